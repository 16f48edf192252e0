# ATTACK: ctypes (present in Pyodide) to write 2 GiB over the interpreter's memory from address 0. CONTAINED: it is WebAssembly linear memory, bounds-checked: the out-of-bounds write traps, the process ends, flowc reports crashed.
# expect: error_kind=crashed|exception
import ctypes

ctypes.memset(0, 0x41, 1 << 31)
result = "survived"
