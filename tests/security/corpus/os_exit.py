# ATTACK: os._exit(1) to take the sandbox down mid-protocol. CONTAINED: the process ends; flowc reports crashed and the pool starts a fresh sandbox.
# expect: error_kind=crashed
import os

os._exit(1)
