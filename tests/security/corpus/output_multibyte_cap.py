# ATTACK: print 900,000 three-byte characters ("€", 2.7 MB of UTF-8) against a 1 MiB output limit: a cap counted in UTF-16 units or characters lets nearly three times the documented bytes through. CONTAINED (expected): the cap is in bytes: output_limit, and what comes back is within the cap.
# expect: error_kind=output_limit; output_bytes=capped
print("€" * 900_000)
result = "printed"
