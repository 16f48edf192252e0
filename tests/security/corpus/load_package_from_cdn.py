# ATTACK: make Pyodide download packages: loadPackage("micropip") falls back to the jsDelivr CDN, and a wheel URL on PyPI. CONTAINED: --deny-net; the downloads fail and the modules stay missing.
# expect: ok; each~No module named; stderr~allow-net
import pyodide_js

out = []
for pkg, module in (("micropip", "micropip"),
                    ("https://files.pythonhosted.org/packages/py2.py3/s/six/six-1.16.0-py2.py3-none-any.whl", "six")):
    await pyodide_js.loadPackage(pkg)
    try:
        __import__(module)
        out.append(f"{module} loaded")
    except ImportError as e:
        out.append(f"denied: {e}")
result = out
