# ATTACK: read the environment and facts about the host through every route: node:process.env (the sentinel by name, and all of it), Deno.env.toObject, Deno.hostname, osRelease, networkInterfaces, systemMemoryInfo, loadavg, uid/gid, node:os (userInfo, homedir, hostname) (Deno.execPath needs no permission: it names the Deno binary, as Deno.mainModule names host.mjs). CONTAINED: --deny-env and --deny-sys: each is NotCapable (and the environment is scrubbed anyway).
# expect: ok; each~NotCapable|Requires|denied
import js

J = js.eval("""async (src) => { try { return 'got: ' + JSON.stringify(await (0, eval)(src)) } catch (e) { return 'denied: ' + e } }""")
out = []
for src in [f"import('node:process').then(m => m.default.env[{SENTINEL_NAME!r}])",
            "import('node:process').then(m => Object.keys(m.default.env))",
            "Deno.env.toObject()", "Deno.hostname()", "Deno.osRelease()", "Deno.networkInterfaces()",
            "Deno.systemMemoryInfo()", "Deno.loadavg()", "Deno.uid()", "Deno.gid()",
            "import('node:os').then(m => m.userInfo())", "import('node:os').then(m => m.hostname())",
            "import('node:os').then(m => m.networkInterfaces())"]:
    out.append(await J(src))
result = out
