# ATTACK: an allowed host answers with a redirect to a host that is not allowed, hoping flowc follows it. CONTAINED: flowc never follows redirects; the code gets the 302 itself and the other server sees no connection.
# expect: ok; value~302; evil=none; server=hit; allow=server
import flowc_http

r = await flowc_http.get(SERVER + "/redirect")
result = {"status": r["status"], "text": r["text"][:100]}
