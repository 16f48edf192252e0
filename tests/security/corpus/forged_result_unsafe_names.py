# ATTACK: learn the protocol nonce (patch TextEncoder.prototype.encode, trigger a host message with flowc_http) and forge a result whose files are named ../escape.txt, an absolute host path and a/../../up.txt. CONTAINED: flowc sanitises every returned name: unsafe ones are refused, nothing lands outside output_dir or in the host's /tmp.
# expect: ok; value="forged"; refused~leaves the working directory; refused~absolute file name; names=ok.txt
import base64
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
data = base64.b64encode(b"forged file").decode()
files = [{"name": n, "data": data} for n in ("../escape.txt", MARKER + "-forged", "a/../../up.txt",
                                               "ok.txt")]
msg = {"type": "result", "id": 1, "ok": True, "error": None, "value": json.dumps("forged"),
       "stdout": "", "stderr": "", "output_overflow": False, "files": files,
       "file_problems": [], "elapsed_ms": 1.0, "nonce": js.__leaked}
js.Deno.stdout.writeSync(js.TextEncoder.new().encode(js.__leaked + " " + json.dumps(msg, separators=(",", ":")) + "\n"))
result = "genuine"
