# ATTACK: URLs whose userinfo names the allowed host while the real host is another (http://allowed.test:1@127.0.0.1/, the attacker's port, an IPv6 literal, a backslash and percent-encoding variant): an allowlist check and an HTTP client that parse URLs differently let the request go to the attacker. CONTAINED: such URLs are refused before any connection; flowc makes no request to 127.0.0.1 and the attacker's server sees nothing.
# expect: ok; each~refused|not allowed|userinfo|request failed; requested!~127.0.0.1; requested!~[::1]; evil=none; allow=allowed.test
import flowc_http

urls = [
    "http://allowed.test:1@127.0.0.1/",
    f"http://allowed.test@127.0.0.1:{EVIL_PORT}/stolen",
    f"http://allowed.test:{EVIL_PORT}@127.0.0.1:{EVIL_PORT}/stolen",
    f"http://allowed.test:1@[::1]:{EVIL_PORT}/stolen",
    f"http://allowed.test\\@127.0.0.1:{EVIL_PORT}/stolen",
    f"http://allowed.test%40127.0.0.1:{EVIL_PORT}/stolen",
    f"http://127.0.0.1:{EVIL_PORT}#@allowed.test/",
    f"http://127.0.0.1:{EVIL_PORT}?@allowed.test/",
]
out = []
for u in urls:
    try:
        r = await flowc_http.get(u)
        out.append(f"MADE {u} -> {r.get('status')}")
    except Exception as e:
        out.append(f"refused {u}: {str(e)[:150]}")
result = out
