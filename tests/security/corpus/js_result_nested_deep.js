// ATTACK: return an array nested 5,000 deep and an object nested 5,000 deep (V8's JSON.stringify handles them; Python's json.loads raises RecursionError at about 1,000). CONTAINED: a clear "result" error for the node, the process killed, the host intact.
// expect: error_kind=result; error~nested|deep
let a = [], o = {};
for (let i = 0; i < 5000; i++) { a = [a]; o = { k: o }; }
result = { a, o };
