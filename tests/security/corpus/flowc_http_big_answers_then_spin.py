# ATTACK: start 8 requests for a 4 MiB allowed page without awaiting them, then spin without ever reading stdin: flowc's 8 answers (32 MiB) cannot fit in the pipe, so a host that writes them blocking hangs forever. CONTAINED: every write to the sandbox is bounded by the deadline: a timeout, the process gone.
# expect: error_kind=timeout; allow=server; server=hit; limits=timeout:3
import _flowc_host

for _ in range(8):
    _flowc_host.fetch(SERVER + "/big", "GET", {}, None)
while True:
    pass
