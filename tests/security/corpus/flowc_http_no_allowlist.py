# ATTACK: flowc_http from a node with an empty allowlist, to the local server and with POST. CONTAINED: no host is allowed: every request is refused before it is made; the server sees no connection.
# expect: ok; each~is not allowed; server=none
import flowc_http

out = []
for call in (lambda: flowc_http.get(SERVER + "/hello"),
             lambda: flowc_http.post(SERVER + "/hello", body="exfiltrated"),
             lambda: flowc_http.request(SERVER + "/hello", "DELETE")):
    try:
        r = await call()
        out.append(f"reached: {r['status']}")
    except Exception as e:
        out.append(f"denied: {e}")
result = out
