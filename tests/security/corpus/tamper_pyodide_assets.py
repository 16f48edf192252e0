# ATTACK: persist across executions by rewriting, truncating, removing or chmod-ing the shared sandbox assets (pyodide.asm.js, the stdlib zip, the memory snapshot, host.mjs), which the sandbox can read. CONTAINED: --deny-write: NotCapable; the files are unchanged.
# expect: ok; each~NotCapable
import js

J = js.setTimeout.constructor(
    "src", "try { return 'changed: ' + String((0, eval)(src)) } catch (e) { return 'denied: ' + e }")
d, s, h = repr(PYODIDE_DIR), repr(SNAPSHOT), repr(HOST_SCRIPT)
result = [
    J(f"Deno.writeTextFileSync({d} + '/pyodide.asm.js', 'globalThis.poisoned = 1', {{append: true}})"),
    J(f"Deno.truncateSync({s}, 0)"),
    J(f"Deno.removeSync({d} + '/python_stdlib.zip')"),
    J(f"Deno.chmodSync({h}, 0o777)"),
    J(f"Deno.renameSync({d} + '/pyodide.mjs', {d} + '/pyodide.mjs.bak')"),
    J(f"Deno.utimeSync({s}, 0, 0)"),
]
