# ATTACK: run host commands with Deno.Command (by absolute path, and Deno's own binary) and the removed Deno.run, through the Function constructor. CONTAINED: --deny-run: NotCapable (a bare name is not even found: the PATH is /nonexistent); no marker appears on the host.
# expect: ok; each~NotCapable|entity not found
import js

J = js.setTimeout.constructor(
    "src", "try { return 'ran: ' + String((0, eval)(src)) } catch (e) { return 'denied: ' + e }")
touch = f"['-c', 'id > {MARKER}-command']"
result = [
    J(f"new TextDecoder().decode(new Deno.Command('/bin/sh', {{args: {touch}}}).outputSync().stdout)"),
    J("new Deno.Command('/usr/bin/id').outputSync().code"),
    J("new Deno.Command(Deno.execPath(), {args: ['eval', 'console.log(1)']}).outputSync().code"),
    J(f"new Deno.Command('/bin/sh', {{args: {touch}}}).spawn().pid"),
    J("Deno.run({cmd: ['/usr/bin/id']}).pid"),
    J("new Deno.Command('id').outputSync().code"),
]
