# ATTACK: reach the real process environment with Deno.env through the Function constructor route (setTimeout.constructor("return Deno")()). CONTAINED: --deny-env, every call is NotCapable (and the environment is scrubbed anyway).
# expect: ok; each~NotCapable
import js

Deno = js.setTimeout.constructor("return Deno")()
out = []
for attempt in (lambda: Deno.env.get(SENTINEL_NAME), lambda: Deno.env.toObject(),
                lambda: Deno.env.has("HOME"), lambda: Deno.env.set("FLOWC_X", "1")):
    try:
        out.append(str(attempt()))
    except Exception as e:
        out.append(f"denied: {e}")
result = out
