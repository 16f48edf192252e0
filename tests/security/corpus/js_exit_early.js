// ATTACK: JavaScript calls Deno.exit(0) before returning, as if it had finished. CONTAINED: no nonce-tagged result: crashed, never ok.
// expect: error_kind=crashed
Deno.exit(0);
