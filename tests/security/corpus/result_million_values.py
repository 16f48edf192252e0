# ATTACK: a result of 1,000,001 small values (2 MB of JSON, under a 4 MiB result limit): every later step that walks a value (the store, schema checks, templates) pays for each. CONTAINED: the host bounds the number of values: a "result" error.
# expect: error_kind=result; error~values; limits=max_result_bytes:4194304
result = [0] * 1_000_001
