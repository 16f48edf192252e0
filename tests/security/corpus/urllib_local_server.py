# ATTACK: HTTP to the local test server with urllib and http.client. CONTAINED: no sockets in Pyodide, no net permission in Deno; the server sees no connection.
# expect: ok; each~unreachable|NotCapable|Errno; server=none
import http.client
import urllib.request

out = []
try:
    out.append(urllib.request.urlopen(SERVER + "/hello", timeout=2).read().decode())
except OSError as e:
    out.append(f"denied: {e!r}")
try:
    c = http.client.HTTPConnection(SERVER_HOST, SERVER_PORT, timeout=2)
    c.request("GET", "/hello")
    out.append(c.getresponse().read().decode())
except OSError as e:
    out.append(f"denied: {e!r}")
result = out
