# ATTACK: open a raw TCP connection with socket.create_connection to a server the test runs on 127.0.0.1. CONTAINED: Pyodide has no real sockets and Deno has no net permission; the server sees no connection.
# expect: ok; value~unreachable|NotCapable|Errno; server=none
import socket

try:
    s = socket.create_connection((SERVER_HOST, SERVER_PORT), timeout=2)
    s.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
    result = s.recv(1000).decode()
except OSError as e:
    result = f"denied: {e!r}"
