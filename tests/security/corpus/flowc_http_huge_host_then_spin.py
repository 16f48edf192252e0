# ATTACK: send 8 flowc_http requests whose host names are 300 KB each (the refusals used to echo them whole: 2.4 MB of answers) without awaiting them, then spin without ever reading stdin again: a host that writes its answers blocking would hang forever in a pipe write, and the node's timeout would never fire. CONTAINED: the host's writes are bounded by the deadline and refusals echo a short prefix: the execution ends with a timeout, the process gone.
# expect: error_kind=timeout; limits=timeout:3; requested!~xxxx
import _flowc_host

host = "x" * 300_000
for i in range(8):
    _flowc_host.fetch(f"http://{host}{i}.test/", "GET", {}, None)
while True:
    pass
