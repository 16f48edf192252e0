# ATTACK: return 1,000,000 three-byte characters ("€", 3 MB of UTF-8 JSON) against the default 1 MiB result limit: a limit counted in characters lets nearly three times the documented bytes through to the store. CONTAINED (expected): the limit is in bytes: result_too_large.
# expect: error_kind=result_too_large
result = "€" * 1_000_000
