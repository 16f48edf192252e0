// ATTACK: return strings and keys holding lone surrogates (JSON.stringify escapes them as \ud800; Python decodes them into strings no file, store or terminal can encode). CONTAINED: refused as a "result" error.
// expect: error_kind=result; error~surrogate|Unicode
result = { ["key\ud800"]: "x", list: ["fine", "lone \udfff"] };
