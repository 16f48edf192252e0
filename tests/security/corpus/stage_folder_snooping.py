# ATTACK: the process may read its own stage folder (where big inputs are linked): list it and read what is there, then climb to the folders beside it (its own Deno folder with the cache copies, the stage folders of other sandboxes, flowc's shared Deno folder and locks) by "..", by /proc/self/cwd and by guessing names from its own. CONTAINED: the stage folder holds only this execution's own inputs; everything beside it is NotCapable.
# expect: ok; each~NotCapable|Requires read; input=big.bin:100000
import js

J = js.eval("""(src) => { try { return 'got: ' + JSON.stringify((0, eval)(src)).slice(0, 200) } catch (e) { return 'denied: ' + e } }""")
cwd = str(js.Deno.cwd())  # the process's own folder, or its stage folder inside it
home = cwd.rsplit("/", 1)[0] if cwd.endswith("/stage") else cwd
stage = home + "/stage"
try:
    own = [str(e.name) for e in js.Deno.readDirSync(stage)]
except Exception:  # a layout where the working folder is not readable at all
    own = []
assert len(own) <= 1, own  # this execution's one staged input, nothing else
shared = PYODIDE_DIR.rsplit("/", 1)[0]
targets = [home, home + "/deno", home + "/deno/v8_code_cache_v2", stage + "/..", stage + "/../deno",
           "/proc/self/cwd/..", "/proc/self/root/etc/passwd", "/tmp", home.rsplit("-", 1)[0] + "-aaaaaaaa",
           shared, shared + "/deno-dir", shared + "/deno-dir/v8_code_cache_v2", shared + "/locks"]
out = []
for t in targets:
    out.append(J(f"[...Deno.readDirSync({t!r})].map(e => e.name)") if not t.endswith(("_v2", "passwd"))
               else J(f"Deno.readFileSync({t!r}).length"))
result = out
