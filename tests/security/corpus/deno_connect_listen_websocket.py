# ATTACK: Deno.connect, Deno.listen (open a server), WebSocket and DNS resolution from inside the sandbox. CONTAINED: --deny-net: NotCapable; the test server sees no connection.
# expect: ok; each~NotCapable; server=none
import js

J = js.eval("(async (src) => { try { const r = await (0, eval)(src); return 'succeeded: ' + r } catch (e) { return 'denied: ' + e } })")
result = [
    await J(f"Deno.connect({{hostname: '{SERVER_HOST}', port: {SERVER_PORT}}})"),
    await J("Deno.listen({hostname: '127.0.0.1', port: 0})"),
    await J(f"new WebSocket('ws://{SERVER_HOST}:{SERVER_PORT}/')"),
    await J("Deno.resolveDns('example.com', 'A')"),
    await J(f"import('node:net').then((m) => new Promise((res, rej) => {{ const s = m.connect({SERVER_PORT}, '{SERVER_HOST}'); s.on('error', rej); s.on('connect', () => res('CONNECTED')) }}))"),
]
