# ATTACK: a big input may be hard-linked into the process's stage folder, which the sandbox may read: open it read-only and take an exclusive flock() on it (Deno's FsFile.lockSync needs no write permission), holding it as long as the run lasts, so that host programs locking the user's original file block. CONTAINED (expected): staged inputs are copies (or reflinks), never links: the sandbox holds no lock on a host file: flowc's side can lock the input at any moment of the call.
# expect: ok; input=big.bin:200000; input_lock=free
import time

import js

stage = str(js.Deno.cwd())
try:  # the stage folder is cwd/stage (only it may be read), or cwd itself in older layouts
    names = [str(e.name) for e in js.Deno.readDirSync(stage + "/stage")]
    stage += "/stage"
except Exception:
    names = [str(e.name) for e in js.Deno.readDirSync(stage)]
held = []
for name in names:
    f = js.Deno.openSync(stage + "/" + name, js.eval("({ read: true })"))
    try:
        f.lockSync(True)
        held.append(name)
    except Exception as e:
        held.append(f"refused: {e}")
time.sleep(2)
result = held
