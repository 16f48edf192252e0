# ATTACK: dump os.environ hoping for host secrets (the test sets FLOWC_SECRET_SENTINEL in its own environment). CONTAINED: the Deno process gets a scrubbed environment and Pyodide's os.environ is Emscripten's fake one; the sentinel is absent.
# expect: ok; value~web_user; value!~FLOWC_SECRET_SENTINEL
import os

result = {"environ": dict(os.environ), "sentinel": os.environ.get(SENTINEL_NAME)}
