# ATTACK: signal flowc and everything else (Deno.kill of the parent, of pid 0 and -1 (every process), SIGSTOP to the parent, node:process.kill), and install handlers for SIGTERM, SIGINT and SIGHUP so that a polite stop is ignored. CONTAINED: --deny-run covers signals (NotCapable); flowc stops sandboxes with SIGKILL, which no handler catches.
# expect: ok; each~NotCapable|Requires run|permission|denied
import js

J = js.eval("""async (src) => { try { return 'done: ' + String(await (0, eval)(src)) } catch (e) { return 'denied: ' + e } }""")
out = []
for src in ["Deno.kill(Deno.ppid, 'SIGTERM')", "Deno.kill(0, 'SIGKILL')", "Deno.kill(-1, 'SIGKILL')",
            "Deno.kill(Deno.ppid, 'SIGSTOP')", "Deno.kill(Deno.ppid - 1, 'SIGKILL')",
            "import('node:process').then(m => m.default.kill(m.default.ppid, 'SIGKILL'))",
            "import('node:process').then(m => m.default.kill(-1, 'SIGTERM'))"]:
    out.append(await J(src))
for sig in ("SIGTERM", "SIGINT", "SIGHUP"):
    try:
        js.Deno.addSignalListener(sig, js.eval("() => {}"))
    except Exception:
        pass
result = out
