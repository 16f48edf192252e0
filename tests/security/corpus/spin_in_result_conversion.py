# ATTACK: return a JS object whose toJSON never returns: the host spins while building the result message, after the code itself "finished". CONTAINED: the deadline covers building the result too: a timeout, the process gone.
# expect: error_kind=timeout; limits=timeout:2
import js

result = js.eval("({ toJSON() { for (;;) {} } })")
