# ATTACK: climb out of a readable directory (the Pyodide assets, the snapshot, host.mjs) with "..", by file URL and by fetch("file://..."). CONTAINED: Deno normalises paths before the permission check: NotCapable.
# expect: ok; each~NotCapable
import js

Deno = js.eval("Deno")
F = js.eval("(async (u) => { try { return await (await fetch(u)).text() } catch (e) { return 'denied: ' + e } })")
out = []
paths = [PYODIDE_DIR + "/../../../../../../etc/passwd", PYODIDE_DIR + "/..",
         SNAPSHOT + "/../deno-dir", HOST_SCRIPT + "/../../../pyproject.toml",
         PYODIDE_DIR + "/./../../../../../../../" + PROJECT_ROOT + "/pyproject.toml"]
for path in paths:
    try:
        out.append(Deno.readTextFileSync(path))
    except Exception as e:
        out.append(f"denied: {e}")
out.append(await F("file://" + PYODIDE_DIR + "/../../../../../../etc/passwd"))
out.append(await F("file://" + PYODIDE_DIR + "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd"))
result = out
