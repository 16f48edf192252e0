# ATTACK: Deno lets a process signal itself without --allow-run: stop the sandbox with SIGSTOP (and queue SIGCONT-proof stops from a timer), so it answers nothing and cannot be killed politely. CONTAINED: flowc's deadline sends SIGKILL, which a stopped process cannot ignore: a timeout, the process gone.
# expect: error_kind=timeout; limits=timeout:2
import js

js.eval("setInterval(() => Deno.kill(Deno.pid, 'SIGSTOP'), 10)")
js.Deno.kill(js.Deno.pid, "SIGSTOP")
result = "stopped"
