# ATTACK: return NaN, +-Infinity, an integer of 400 digits (a BigInt in JS, Infinity as a double) and 2**64, hoping non-finite numbers reach the host (Python's json accepts NaN and Infinity, which no JSON reader downstream does). CONTAINED: the result never holds a non-finite number: JSON has none (they become null).
# expect: ok; value!~NaN; value!~Infinity; value~null
result = [float("nan"), float("inf"), float("-inf"), 10 ** 400, 2 ** 64, 1e308 * 10]
