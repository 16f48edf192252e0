# ATTACK: an infinite loop that swallows every exception (KeyboardInterrupt, SystemExit, anything Pyodide might raise to interrupt it). CONTAINED: the timeout is a SIGKILL from outside, not an exception: stopped at 1 s.
# expect: error_kind=timeout; elapsed<3; limits=timeout:1
n = 0
while True:
    try:
        while True:
            n += 1
    except BaseException:
        continue
