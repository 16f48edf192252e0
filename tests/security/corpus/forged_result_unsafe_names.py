# ATTACK: learn the protocol nonce (patch TextEncoder.prototype.encode, trigger a host message with flowc_http) and forge a result whose files are named ../escape.txt, an absolute host path and a/../../up.txt. CONTAINED: the nonce never exists as text in the host, so nothing leaks and the forged line is dropped: the genuine result, no file (flowc sanitises every returned name besides: tests/test_hostile_results.py).
# expect: ok; value="genuine"; names=
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
# (the host never holds the nonce as text: nothing leaks, and a guess is all that is left)
LEAKED = str(getattr(js, "__leaked", None) or "0" * 32)
data = base64.b64encode(b"forged file").decode()
files = [{"name": n, "data": data} for n in ("../escape.txt", MARKER + "-forged", "a/../../up.txt",
                                               "ok.txt")]
msg = {"type": "result", "id": 1, "ok": True, "error": None, "value": json.dumps("forged"),
       "stdout": "", "stderr": "", "output_overflow": False, "files": files,
       "file_problems": [], "elapsed_ms": 1.0, "nonce": LEAKED}
js.Deno.stdout.writeSync(js.TextEncoder.new().encode(LEAKED + " " + json.dumps(msg, separators=(",", ":")) + "\n"))
result = "genuine"
