# ATTACK: call Deno's internal ops directly (Deno[Deno.internal].core.ops), skipping the public JS wrappers. CONTAINED: permission checks live in the Rust ops themselves: NotCapable.
# expect: ok; each~NotCapable
import js

J = js.eval("(src) => { try { return String((0, eval)(src)) } catch (e) { return 'denied: ' + e } }")
ops = "Deno[Deno.internal].core.ops"
result = [
    J(f"{ops}.op_node_open_sync('/etc/passwd', 0, 0)"),
    J(f"{ops}.op_node_load_env_file('/etc/passwd')"),
    J(f"{ops}.op_set_env('FLOWC_X', '1')"),
    J(f"{ops}.op_fs_truncate_sync({MARKER!r}, 0)"),
    J(f"{ops}.op_ffi_read_u8(null, 0)"),
]
