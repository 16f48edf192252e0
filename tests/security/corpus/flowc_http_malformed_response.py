# ATTACK: the allowed host (compromised, or simply broken) answers with a malformed status line, to break flowc's side of the fetch. CONTAINED (expected): the sandboxed code gets a fetch error ("request failed") and flowc carries on.
# expect: ok; value~request failed; server=hit; allow=server
import flowc_http

try:
    r = await flowc_http.get(SERVER + "/garbage")
    result = f"reached: {r['status']}"
except Exception as e:
    result = f"denied: {e}"
