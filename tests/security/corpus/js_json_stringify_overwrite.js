// ATTACK: JavaScript overwrites JSON.stringify and TextEncoder before returning, to corrupt the harness's result message. CONTAINED: the harness captured JSON.stringify at start; the genuine value comes back.
// expect: ok; value={"genuine": true}
JSON.stringify = () => '{"forged": true}';
JSON.parse = () => ({ forged: true });
result = { genuine: true };
