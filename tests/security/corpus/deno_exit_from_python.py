# ATTACK: call Deno.exit(0) from Python to end the host loop cleanly, as if the execution had finished. CONTAINED: flowc sees the process end without a result: crashed, never ok.
# expect: error_kind=crashed
import js

js.Deno.exit(0)
