# ATTACK: os.abort() to crash the interpreter. CONTAINED: the process ends; flowc reports crashed.
# expect: error_kind=crashed
import os

os.abort()
