# ATTACK: get Deno through pyodide_js.constructor.constructor (Function) and read /etc/shadow, SSH keys, the project files. CONTAINED: every read is NotCapable.
# expect: ok; each~NotCapable
import pyodide_js

Deno = pyodide_js.constructor.constructor("return Deno")()
out = []
for path in ("/etc/shadow", "/etc/passwd", "/root/.ssh/id_rsa", PROJECT_ROOT + "/pyproject.toml",
             PROJECT_ROOT + "/.git/config"):
    try:
        out.append(Deno.readTextFileSync(path))
    except Exception as e:
        out.append(f"denied: {e}")
result = out
