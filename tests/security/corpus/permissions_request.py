# ATTACK: ask Deno for more permissions at run time (Deno.permissions.requestSync for read, write, net, env, run, ffi, sys), then read /etc/passwd. CONTAINED: --no-prompt and explicit denies: every request is "denied" and the read is NotCapable.
# expect: ok; each~denied|NotCapable
import js

Deno = js.eval("Deno")
out = []
for desc in ('{"name": "read", "path": "/etc/passwd"}', '{"name": "write", "path": "/tmp"}',
             '{"name": "net"}', '{"name": "env"}', '{"name": "run"}', '{"name": "ffi"}',
             '{"name": "sys"}', '{"name": "import", "host": "deno.land"}'):
    try:
        out.append(str(Deno.permissions.requestSync(js.JSON.parse(desc)).state))
    except Exception as e:
        out.append(f"refused: {e}")
try:
    out.append(Deno.readTextFileSync("/etc/passwd"))
except Exception as e:
    out.append(f"denied: {e}")
result = out
