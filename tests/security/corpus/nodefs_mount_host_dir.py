# ATTACK: mount host directories (/etc, the project) into Pyodide's FS with Emscripten's NODEFS, then read them with plain open(). CONTAINED: NODEFS goes through Deno's node compatibility layer, which checks read permission: NotCapable.
# expect: ok; each~NotCapable|does not exist
import os

import js
import pyodide_js

FS = pyodide_js.FS
out = []
for i, root in enumerate(("/etc", PROJECT_ROOT, "/root")):
    mnt = f"/host{i}"
    os.mkdir(mnt)
    try:
        FS.mount(FS.filesystems.NODEFS, js.JSON.parse(f'{{"root": "{root}"}}'), mnt)
        out.append(repr(os.listdir(mnt)))
    except Exception as e:
        out.append(f"denied: {e}")
try:
    pyodide_js.mountNodeFS("/host9", "/etc")
    out.append(open("/host9/passwd").read())
except Exception as e:
    out.append(f"denied: {e}")
result = out
