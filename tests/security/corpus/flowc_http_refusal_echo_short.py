# ATTACK: a request to a 300 KB host name, a 1 MB path and a 64 KB header value: the refusal (or error) message that comes back would carry the attacker's data whole into flowc's logs, traces and the sandbox pipe. CONTAINED: refusals echo at most a short prefix of what the program sent (a few hundred characters).
# expect: ok; each~short:; allow=server
import flowc_http

out = []
for url, headers in [("http://" + "h" * 300_000 + ".test/", None),
                     (SERVER + "/" + "p" * 1_000_000, None),
                     (SERVER + "/hello", {"X-Big": "v" * 65536}),
                     ("ftp://" + "f" * 300_000, None)]:
    try:
        await flowc_http.get(url, headers)
        out.append("made")
    except Exception as e:
        out.append(("short: " if len(str(e)) < 1000 else f"long ({len(str(e))} chars): ") + str(e)[:80])
result = out
