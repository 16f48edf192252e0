# ATTACK: signal the parent (flowc itself) and other processes with Deno.kill and node:process.kill. CONTAINED: --deny-run covers signals: NotCapable; the test process keeps running.
# expect: ok; each~NotCapable
import js

J = js.eval("(async (src) => { try { return 'sent: ' + String(await (0, eval)(src)) } catch (e) { return 'denied: ' + e } })")
result = [
    await J("Deno.kill(Deno.ppid, 'SIGKILL')"),
    await J("Deno.kill(-Deno.ppid, 'SIGTERM')"),
    await J("Deno.kill(1, 'SIGTERM')"),
    await J("import('node:process').then((m) => m.default.kill(m.default.ppid, 'SIGKILL'))"),
]
