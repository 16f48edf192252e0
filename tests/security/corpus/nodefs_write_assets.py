# ATTACK: mount the (readable) Pyodide asset folder with NODEFS and write into it, to poison every later sandbox. CONTAINED: --deny-write; the write is refused (Emscripten turns the NotCapable into a fatal error, so the process ends) and the assets are unchanged.
# expect: error_kind=crashed|exception
import os

import js
import pyodide_js

FS = pyodide_js.FS
os.mkdir("/assets")
FS.mount(FS.filesystems.NODEFS, js.JSON.parse(f'{{"root": "{PYODIDE_DIR}"}}'), "/assets")
with open("/assets/pyodide.mjs", "a") as f:
    f.write("globalThis.poisoned = true;\n")
result = "wrote into the assets"
