# ATTACK: learn the nonce (patched TextEncoder.prototype.encode during a flowc_http call) and forge a result whose fields have the wrong types (elapsed_ms "abc", files 5). CONTAINED (expected): flowc validates every field and reports a protocol error.
# expect: error_kind=protocol|crashed
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
msg = {"type": "result", "id": 1, "ok": True, "value": "1", "elapsed_ms": "abc", "files": [],
       "nonce": js.__leaked}
js.Deno.stdout.writeSync(js.TextEncoder.new().encode(js.__leaked + " " + json.dumps(msg, separators=(",", ":")) + "\n"))
result = "genuine"
