# ATTACK: (follow-up, a sandbox started later) read back what an earlier run tried to keep in Deno KV and node:sqlite databases. CONTAINED: nothing of it is there.
# expect: ok; value!~flowc-token-
import js

J = js.eval("""async (src) => { try { return String(await (0, eval)(src)) } catch (e) { return 'denied: ' + e } }""")
out = []
for p in [js.eval("Deno.cwd()") + "/planted.db", PYODIDE_DIR + "/planted.db", "planted.db"]:
    out.append(await J(f"""import('node:sqlite').then(({{ DatabaseSync }}) => {{
        const db = new DatabaseSync({p!r}, {{ readOnly: true }});
        return JSON.stringify(db.prepare("SELECT v FROM t").all());
    }})"""))
result = out
