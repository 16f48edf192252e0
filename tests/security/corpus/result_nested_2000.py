# ATTACK: return a list nested 2,000 deep (and a dict nested 2,000 deep beside it): json.loads, the store's encoder or a schema check would raise RecursionError in the host. CONTAINED: results are parsed as hostile input: a clear "result" error for the node, the host intact.
# expect: error_kind=result; error~nested
deep = []
for _ in range(2000):
    deep = [deep]
d = {}
for _ in range(2000):
    d = {"k": d}
result = {"list": deep, "dict": d}
