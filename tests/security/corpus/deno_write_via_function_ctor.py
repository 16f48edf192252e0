# ATTACK: write, create directories, temp files and symlinks on the host with Deno's file API via the Function constructor. CONTAINED: --deny-write: NotCapable; nothing appears in the host's /tmp.
# expect: ok; each~NotCapable
import js

J = js.setTimeout.constructor(
    "src", "try { return 'wrote: ' + String((0, eval)(src)) } catch (e) { return 'denied: ' + e }")
m = repr(MARKER)
result = [
    J(f"Deno.writeTextFileSync({m} + '-deno', 'escaped')"),
    J(f"Deno.mkdirSync({m} + '-dir')"),
    J("Deno.makeTempFileSync()"),
    J(f"Deno.symlinkSync('/etc/passwd', {m} + '-link')"),
    J(f"Deno.openSync({m} + '-open', {{write: true, create: true}})"),
    J(f"Deno.copyFileSync({HOST_SCRIPT!r}, {m} + '-copy')"),
]
