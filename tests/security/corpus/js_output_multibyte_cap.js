// ATTACK: console.log 900,000 three-byte characters (2.7 MB of UTF-8) against a 1 MiB output limit, hoping the cap counts characters. CONTAINED: the cap is in bytes: output_limit, and what comes back is within the cap.
// expect: error_kind=output_limit; output_bytes=capped
console.log("€".repeat(900000));
result = "printed";
