# ATTACK: persist the TOKEN with Deno KV (Deno.openKv, absent without --unstable-kv, and through a node:worker_threads worker) and with node:sqlite databases: in the process's readable folders (its stage folder, the Pyodide assets), in DENO_DIR's location and as a relative path. CONTAINED: no Deno KV, and --deny-write refuses every database file; a fresh sandbox finds nothing.
# expect: ok; each~NotCapable|not a function|undefined|unable to open|readonly|Requires write; followup=followups/read_kv_and_sqlite.py; trace=none
import js

J = js.eval("""async (src) => { try { return String(await (0, eval)(src)) } catch (e) { return 'denied: ' + e } }""")
paths = [js.eval("Deno.cwd()") + "/planted.db", PYODIDE_DIR + "/planted.db", "planted.db",
         js.eval("Deno.cwd()") + "/../deno/location_data/planted.db"]
out = [await J("typeof Deno.openKv === 'function' ? Deno.openKv().then(kv => kv.set(['flowc'], 'x')).then(() => 'kv set') : 'Deno.openKv is undefined'")]
for p in paths:
    out.append(await J(f"""import('node:sqlite').then(({{ DatabaseSync }}) => {{
        const db = new DatabaseSync({p!r});
        db.exec("CREATE TABLE IF NOT EXISTS t (v TEXT)");
        db.prepare("INSERT INTO t VALUES (?)").run({TOKEN!r});
        db.close();
        return 'stored in ' + {p!r};
    }})"""))
result = out
