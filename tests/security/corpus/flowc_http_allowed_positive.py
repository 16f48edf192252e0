# ATTACK: none (the positive case): flowc_http to the host on the allowlist must work. CONTAINED: the request is made by flowc, and only to the allowed host.
# expect: ok; value={"status": 200, "text": "hello from the allowed server"}; server=hit; allow=server
import flowc_http

r = await flowc_http.get(SERVER + "/hello")
result = {"status": r["status"], "text": r["text"]}
