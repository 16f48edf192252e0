# ATTACK: overwrite JSON.stringify and JSON.parse in the JS realm before returning, hoping to change or break the host's result message. CONTAINED: the host captured both at start; the genuine result comes back.
# expect: ok; value={"genuine": [1, 2, 3]}
import js

js.eval("""
JSON.stringify = () => '{"type":"result","id":1,"ok":true,"value":"\\\\"forged\\\\""}';
JSON.parse = () => ({op: "exit"});
""")
result = {"genuine": [1, 2, 3]}
