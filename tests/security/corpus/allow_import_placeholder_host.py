# ATTACK: use what --allow-import does allow: its placeholder host flowc-no-import.invalid:1, and npm:/jsr: specifiers that fetch from registries. CONTAINED: --cached-only stops any download ("not found in cache"), jsr.io needs import access, and the process's Deno folder has no remote or npm cache to read (each is an empty file there: "Not a directory").
# expect: ok; each~cached-only|import access|Not a directory
import js

J = js.eval("(async (u) => { try { const m = await import(u); return 'imported: ' + Object.keys(m) } catch (e) { return 'denied: ' + e } })")
result = [
    await J("https://flowc-no-import.invalid:1/x.js"),
    await J("http://flowc-no-import.invalid:1/x.js"),
    await J("npm:left-pad@1.3.0"),
    await J("jsr:@std/path@1"),
]
