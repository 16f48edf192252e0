# ATTACK: build a fetch call with the Function constructor (js.Function.new) and with Deno's own HTTP client, to reach the local server and an outside host. CONTAINED: --deny-net: NotCapable; the server sees no connection.
# expect: ok; each~NotCapable; server=none
import js

get = js.Function.new("u", "return fetch(u).then((r) => r.text()).catch((e) => 'denied: ' + e)")
out = [await get(SERVER + "/hello"), await get("https://example.com/")]
post = js.setTimeout.constructor(
    "u", "return fetch(u, {method: 'POST', body: 'exfiltrated'}).then((r) => r.status).catch((e) => 'denied: ' + e)")
out.append(str(await post(SERVER + "/hello")))
result = out
