# ATTACK: read /etc/passwd through the FFI with js.Deno.readTextFileSync (the js module is the JS global scope). CONTAINED: Deno has read permission for the Pyodide assets only: NotCapable.
# expect: error_kind=exception; error~NotCapable
import js

result = js.Deno.readTextFileSync("/etc/passwd")
