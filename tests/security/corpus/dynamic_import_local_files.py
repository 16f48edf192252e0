# ATTACK: read host files as modules: import() with type text, bytes and json of /etc/passwd, the project's pyproject.toml, /proc/self/environ, the shared Deno folder and flowc's sources, and a relative import that climbs out of the (readable) Pyodide folder. CONTAINED: module loading checks read permission like any read: every import is refused.
# expect: ok; each~NotCapable|Requires read|not allowed|Unsupported|Unknown|denied|invalid
import js

J = js.eval("""async (src) => { try { const m = await (0, eval)(src); return 'got: ' + String(m && m.default).slice(0, 60) } catch (e) { return 'denied: ' + e } }""")
targets = ["/etc/passwd", PROJECT_ROOT + "/pyproject.toml", "/proc/self/environ",
           PYODIDE_DIR + "/../deno-dir/dep_analysis_cache_v2", PROJECT_ROOT + "/runtime/sandbox/process.py",
           PYODIDE_DIR + "/../../../../../etc/passwd"]
out = []
for t in targets:
    for kind in ("text", "bytes", "json"):
        out.append(await J(f"import('file://{t}', {{ with: {{ type: '{kind}' }} }})"))
out.append(await J(f"import('file://{PYODIDE_DIR}/../../../../../etc/passwd')"))
result = out
