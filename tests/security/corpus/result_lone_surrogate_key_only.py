# ATTACK: a lone surrogate only in a dictionary key, deep inside an otherwise valid result (keys and values are checked by different code paths). CONTAINED: refused as a "result" error.
# expect: error_kind=result; error~surrogate|Unicode
result = {"a": [{"b": {"\udc80": 1}}]}
