# ATTACK: an infinite loop. CONTAINED: flowc's wall-clock timeout SIGKILLs the process group at 1 s.
# expect: error_kind=timeout; elapsed<3; limits=timeout:1
while True:
    pass
