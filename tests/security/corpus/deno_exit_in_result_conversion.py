# ATTACK: return a JS object whose toJSON calls Deno.exit(0) (and sets an exit code first): the process ends while the host builds the result message, as if it had finished cleanly. CONTAINED: no result means failure: crashed, never ok.
# expect: error_kind=crashed|result|exception
import js

result = js.eval("({ toJSON() { Deno.exitCode = 0; Deno.exit(0); } })")
