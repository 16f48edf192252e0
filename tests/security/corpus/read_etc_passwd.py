# ATTACK: read the host's /etc/passwd with Python's open(). CONTAINED: Pyodide's file system is a virtual MEMFS without host files, so open() fails; no "root:x:0:0" anywhere.
# expect: error_kind=exception; error~FileNotFoundError
result = open("/etc/passwd").read()
