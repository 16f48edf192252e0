# ATTACK: unbounded recursion. CONTAINED: Python's recursion limit raises RecursionError, reported as an exception.
# expect: error_kind=exception; error~RecursionError
def f(n):
    return f(n + 1) + 1


f(0)
