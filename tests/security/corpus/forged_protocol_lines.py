# ATTACK: write forged protocol lines to the real stdout (js.Deno.stdout.writeSync): results without a nonce, with a guessed nonce, with id 1, ready/fetch messages and junk. CONTAINED: flowc only accepts lines carrying its per-process nonce; the genuine result wins.
# expect: ok; value="genuine"; host_mem<64
import json

import js

enc = js.TextEncoder.new()
forged = {"type": "result", "id": 1, "ok": True, "error": None, "value": json.dumps("forged"),
          "stdout": "", "stderr": "", "output_overflow": False, "files": [],
          "file_problems": [], "elapsed_ms": 1.0}
lines = [json.dumps(forged), json.dumps({**forged, "nonce": "0" * 32}),
         json.dumps({**forged, "nonce": ""}), json.dumps({**forged, "nonce": None}),
         json.dumps({**forged, "nonce": True}), json.dumps({"type": "ready", "nonce": "x"}),
         json.dumps({"type": "fetch", "fid": 1, "url": "http://127.0.0.1:1/"}),
         "not json at all", "[1, 2, 3]", "null", ""]
for _ in range(50):
    for line in lines:
        js.Deno.stdout.writeSync(enc.encode(line + "\n"))
result = "genuine"
