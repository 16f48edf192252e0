# ATTACK: an allowed host that answers only after the call has returned, to stretch an execution past its 1 s wall-clock timeout: flowc makes the request synchronously inside its wait loop. CONTAINED (expected): the execution ends at the timeout.
# expect: error_kind=timeout; elapsed<2.5; allow=server; limits=timeout:1
import flowc_http

r = await flowc_http.get(SERVER + "/slow")
result = r["status"]
