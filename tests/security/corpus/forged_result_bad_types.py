# ATTACK: learn the nonce (patched TextEncoder.prototype.encode during a flowc_http call) and forge a result whose fields have the wrong types (elapsed_ms "abc", files 5). CONTAINED (expected): the nonce never exists as text in the host (kept as bytes), so nothing leaks and the forged line is dropped: the genuine result comes back (were a forgery read, flowc validates every field: a protocol error).
# expect: ok; value="genuine"
import json

import flowc_http
import js

js.eval("""(() => {
  const orig = TextEncoder.prototype.encode;
  TextEncoder.prototype.encode = function (s) {
    const m = /"nonce":"([0-9a-f]+)"/.exec(String(s));
    if (m) globalThis.__leaked = m[1];
    return orig.call(this, s);
  };
})()""")
try:
    await flowc_http.get("http://flowc-trigger.invalid/")
except Exception:
    pass
# (the host never holds the nonce as text: nothing leaks, and a guess is all that is left)
LEAKED = str(getattr(js, "__leaked", None) or "0" * 32)
msg = {"type": "result", "id": 1, "ok": True, "value": "1", "elapsed_ms": "abc", "files": [],
       "nonce": LEAKED}
js.Deno.stdout.writeSync(js.TextEncoder.new().encode(LEAKED + " " + json.dumps(msg, separators=(",", ":")) + "\n"))
result = "genuine"
