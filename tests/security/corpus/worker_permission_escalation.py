# ATTACK: start a Web Worker that asks for more Deno permissions than its parent (deno: {permissions: {read: true, net: true}}). CONTAINED: Deno refuses (the option is unstable and cannot escalate anyway); the process ends and flowc reports it.
# expect: error_kind=crashed|exception
import js

w = js.eval("""new Worker("data:text/javascript,postMessage(Deno.readTextFileSync('/etc/passwd'))",
  {type: "module", deno: {permissions: {read: true, net: true, env: true}}})""")
result = "worker started"
