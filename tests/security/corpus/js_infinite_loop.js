// ATTACK: JavaScript infinite loop. CONTAINED: the wall-clock timeout kills the process group at 1 s.
// expect: error_kind=timeout; elapsed<3; limits=timeout:1
for (;;) {}
