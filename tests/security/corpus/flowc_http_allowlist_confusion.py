# ATTACK: trick flowc's allowlist check with confusing URLs (userinfo, fragments, backslashes, IPv6-mapped and localhost names for the attacker's port, file://, schemeless, odd methods). CONTAINED: every one is refused or fails before reaching the attacker's server.
# expect: ok; each~not allowed|only http|request failed|refused URL; evil=none; allow=server
import flowc_http

E = f"{SERVER_HOST}:{EVIL_PORT}"
urls = [
    f"http://{SERVER_NETLOC}@{E}/stolen",
    f"http://{E}#@{SERVER_NETLOC}/",
    f"http://{E}\\@{SERVER_NETLOC}/",
    f"http://{E}/?@{SERVER_NETLOC}",
    f"http://localhost:{EVIL_PORT}/stolen",
    f"http://[::ffff:127.0.0.1]:{EVIL_PORT}/stolen",
    f"HTTP://{E}/stolen",
    f"http://{SERVER_NETLOC}.evil.invalid/",
    "file:///etc/passwd",
    f"ftp://{SERVER_NETLOC}/",
    f"//{E}/stolen",
]
out = []
for url in urls:
    try:
        r = await flowc_http.get(url)
        out.append(f"reached {url}: {r['status']}")
    except Exception as e:
        out.append(f"denied: {e}")
for method, url in (("CONNECT", SERVER + "/hello"), ("TRACE", SERVER + "/hello")):
    try:
        r = await flowc_http.request(url, method)
        out.append(f"reached {method} {url!r}: {r['status']}")
    except Exception as e:
        out.append(f"denied: {e}")
result = out
