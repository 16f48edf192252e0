# ATTACK: get Deno through to_js([1]).constructor.constructor (Array -> Function), then list the process's working directory (the flowc cache) and the home directory. CONTAINED: no read permission there: NotCapable.
# expect: ok; each~NotCapable
from pyodide.ffi import to_js

Deno = to_js([1]).constructor.constructor("return Deno")()
out = []
for path in (Deno.cwd(), Deno.cwd() + "/..", "/root", "/work/main"):
    try:
        out.append(repr([e.name for e in Deno.readDirSync(path)]))
    except Exception as e:
        out.append(f"denied: {e}")
result = out
