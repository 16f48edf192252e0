// ATTACK: the harness's nonce and __send are in the user code's scope (the code is pasted into the harness module): send a forged nonce-tagged message whose value is not JSON, then exit. CONTAINED (expected): flowc validates the message and reports a protocol error.
// expect: error_kind=protocol|crashed|exception
__send({ ok: true, value: "not json {", stdout: "", overflow: false, files: [] });
Deno.exit(0);
