"""The sandbox: Python (Pyodide) and JavaScript in Deno processes with hard limits.

    from flowc.runtime.sandbox import SandboxPool, Limits
    with SandboxPool(size=2) as pool:
        r = pool.run("result = sum(range(10))", limits=Limits(timeout=5))
        assert r.ok and r.value == 45

See PROTOCOL.md beside this file for the host protocol and the security model.
"""

from .assets import PYODIDE_VERSION, SandboxSetupError, ensure_assets
from .files import FileOut, UnsafeName, safe_name
from .limits import Limits
from .pool import ExecutionResult, RunSession, SandboxPool

__all__ = ["PYODIDE_VERSION", "ExecutionResult", "FileOut", "Limits", "RunSession",
           "SandboxPool", "SandboxSetupError", "UnsafeName", "ensure_assets", "safe_name"]
