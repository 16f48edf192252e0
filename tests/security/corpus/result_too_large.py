# ATTACK: return a 4 MiB result against a 1 MiB result limit. CONTAINED: the execution fails with result_too_large and no value is returned.
# expect: error_kind=result_too_large; limits=max_result_bytes:1048576
result = {"blob": "x" * (4 << 20)}
