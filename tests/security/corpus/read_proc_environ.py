# ATTACK: read environment blocks through /proc: the sandbox's own and its parent's (flowc, which holds FLOWC_SECRET_SENTINEL). CONTAINED: MEMFS has no host /proc; Deno has no read permission for /proc (NotCapable).
# expect: ok; each~No such file or directory|NotCapable
import js

Deno = js.eval("Deno")
out = []
try:
    out.append(open("/proc/self/environ").read())
except OSError as e:
    out.append(f"denied: {e}")
for path in ("/proc/self/environ", f"/proc/{Deno.ppid}/environ", "/proc/1/environ",
             f"/proc/{Deno.ppid}/cmdline"):
    try:
        out.append(Deno.readTextFileSync(path))
    except Exception as e:
        out.append(f"denied: {e}")
result = out
