# ATTACK: pyodide.http.pyfetch (JS fetch underneath) to the local test server. CONTAINED: --deny-net: "Requires net access"; the server sees no connection.
# expect: ok; value~Requires net access; server=none
from pyodide.http import pyfetch

try:
    r = await pyfetch(SERVER + "/hello")
    result = await r.string()
except Exception as e:
    result = f"denied: {e}"
