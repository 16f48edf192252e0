# ATTACK: do the forbidden things from a Web Worker (a second JS thread): read /etc/passwd, read the environment, fetch the local server. CONTAINED: the host removes Worker before any code runs (ReferenceError); were one reachable, workers inherit the process's permissions: NotCapable; the server sees no connection.
# expect: ok; each~NotCapable|Worker is not defined; server=none
import js

src = """
const out = [];
for (const f of [() => Deno.readTextFileSync("/etc/passwd"), () => Deno.env.get("FLOWC_SECRET_SENTINEL"),
                 () => Deno.readTextFileSync("PROJECT/pyproject.toml")]) {
  try { out.push("got: " + f()); } catch (e) { out.push("denied: " + e); }
}
try { out.push("got: " + await (await fetch("SERVER/hello")).text()); } catch (e) { out.push("denied: " + e); }
postMessage(out);
""".replace("PROJECT", PROJECT_ROOT).replace("SERVER", SERVER)
p = js.Function.new("src", """return new Promise((res) => {
  let w;
  try { w = new Worker("data:text/javascript," + encodeURIComponent(src), {type: "module"}); }
  catch (e) { res(["denied: " + e]); return; }
  w.onmessage = (e) => { res(e.data); w.terminate(); };
})""")
result = list(await p(src))
