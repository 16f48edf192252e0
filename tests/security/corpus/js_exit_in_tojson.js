// ATTACK: return an object whose toJSON calls Deno.exit(0) while the harness stringifies the result, ending the process as if cleanly. CONTAINED: no result line: crashed, never ok.
// expect: error_kind=crashed|result
result = { toJSON() { Deno.exit(0); } };
