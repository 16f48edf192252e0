# ATTACK: dynamic import() of remote modules (a public host, and the local test server), which Deno allows for some hosts even with --deny-net. CONTAINED: --allow-import names no real host: "Requires import access"; the server sees no connection.
# expect: ok; each~import access; server=none
import js

J = js.eval("(async (u) => { try { const m = await import(u); return 'imported: ' + m.default } catch (e) { return 'denied: ' + e } })")
result = [
    await J("https://deno.land/std@0.224.0/version.ts"),
    await J("https://jsr.io/@std/path/1.0.0/mod.ts"),
    await J("https://raw.githubusercontent.com/denoland/deno/main/README.md"),
    await J(SERVER + "/mod.js"),
]
