// ATTACK: return 1,000,000 three-byte characters (3 MB of UTF-8 JSON) against the default 1 MiB result limit, hoping the limit counts characters. CONTAINED: the limit is in bytes: result_too_large.
// expect: error_kind=result_too_large
result = "€".repeat(1000000);
