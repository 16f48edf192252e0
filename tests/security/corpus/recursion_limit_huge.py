# ATTACK: lift the recursion limit to 10**8 and recurse, to overflow the WebAssembly/native stack and corrupt the interpreter. CONTAINED: the stack overflow ends the process (or raises); flowc reports it and starts a fresh sandbox.
# expect: error_kind=crashed|memory|exception; elapsed<10
import sys

sys.setrecursionlimit(10**8)


def f(n):
    return f(n + 1) + 1


f(0)
