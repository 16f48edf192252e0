// ATTACK: JavaScript writes a file into the host's /tmp. CONTAINED: --deny-write: NotCapable, an exception; no marker appears.
// expect: error_kind=exception; error~NotCapable
Deno.writeTextFileSync(MARKER + "-js", "escaped");
result = "wrote";
