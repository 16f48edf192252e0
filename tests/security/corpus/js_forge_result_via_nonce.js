// ATTACK: the harness's nonce and __send are in the user code's scope (the code is pasted into the harness module): send a forged nonce-tagged message whose value is not JSON, then exit. CONTAINED (expected): flowc validates the message and reports a protocol error.
// expect: error_kind=protocol|crashed|exception
// xfail: the JavaScript harness exposes __nonce/__send to user code, and run_javascript json.loads()s the value unchecked: JSONDecodeError escapes run_javascript instead of an error result
__send({ ok: true, value: "not json {", stdout: "", overflow: false, files: [] });
Deno.exit(0);
