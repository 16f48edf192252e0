# ATTACK: start threads (threading, _thread, a thread pool) to outlive the execution or escape the timeout. CONTAINED: Pyodide has no threads: every start fails with "can't start new thread".
# expect: ok; each~can't start new thread
import _thread
import threading
from concurrent.futures import ThreadPoolExecutor

out = []
for attempt in (lambda: threading.Thread(target=lambda: None).start(),
                lambda: _thread.start_new_thread(lambda: None, ()),
                lambda: ThreadPoolExecutor(2).submit(lambda: 1).result()):
    try:
        attempt()
        out.append("started")
    except RuntimeError as e:
        out.append(f"denied: {e}")
result = out
