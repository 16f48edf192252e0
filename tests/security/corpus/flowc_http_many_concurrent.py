# ATTACK: 200 concurrent flowc_http requests to a slow allowed page (it answers only after the call has returned) against a 2 s timeout, so that flowc opens 200 connections and threads that outlive the execution. CONTAINED: flowc keeps at most a few requests in flight (the rest are refused), the execution ends at its timeout, and no request thread outlives it.
# expect: error_kind=timeout; allow=server; server=hit; server_hits<9; limits=timeout:2
import asyncio

import flowc_http


async def one():
    try:
        return (await flowc_http.get(SERVER + "/slow"))["status"]
    except Exception as e:
        return str(e)[:60]

result = await asyncio.gather(*[one() for _ in range(200)])
