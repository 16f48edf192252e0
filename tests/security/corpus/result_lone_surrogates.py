# ATTACK: return strings and keys with lone surrogates ("\ud800", "\udfff"): valid in Python and in JS, but not encodable as UTF-8, so any file, store or terminal the host writes them to raises UnicodeEncodeError. CONTAINED: refused as a "result" error for the node.
# expect: error_kind=result; error~surrogate|Unicode
result = {"key\ud800": "value", "list": ["ok", "lone \udfff end"]}
