# ATTACK: evaluate arbitrary JS with setTimeout.constructor (= Function) to get Deno, then read the project's pyproject.toml. CONTAINED: Deno's permissions, not the FFI, are the boundary: NotCapable.
# expect: error_kind=exception; error~NotCapable
import js

Deno = js.setTimeout.constructor("return Deno")()
result = Deno.readTextFileSync(PROJECT_ROOT + "/pyproject.toml")
