# ATTACK: os.system() a shell command that would create a marker file in the host's /tmp. CONTAINED: Emscripten's system() cannot run anything (it aborts the interpreter); no marker appears on the host.
# expect: error_kind=crashed|exception
import os

result = os.system(f"touch {MARKER}-system")
