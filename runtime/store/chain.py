"""The audit chain's hashing: canonical JSON, an event's hash, what a `node.result` event
commits to. Pure functions over values: every store implementation hashes with these, so a
chain verifies the same whichever store wrote it.

Events are numbered per run from 1; `hash = sha256(prev_hash + canonical JSON of {run_id,
seq, ts, kind, actor, payload})`, the first `prev_hash` being AUDIT_GENESIS (64 zeros,
LEGACY_AUDIT_GENESIS, for a run recorded before results were committed), canonical JSON
being `json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .codec import _orjson

__all__ = [
    "AUDIT_GENESIS", "LEGACY_AUDIT_GENESIS", "NODE_RESULT_EVENT", "canonical_json",
    "node_result_payload", "text_sha256",
]

# The first `prev_hash` of a run's chain. A run recorded since its trail commits to its data
# (node results, decisions, inputs, outputs, plan: see runtime/audit.py) starts from
# AUDIT_GENESIS; one recorded before, from LEGACY_AUDIT_GENESIS (64 zeros). The genesis is
# hashed into the first event, so a run cannot be passed off as the older kind without
# rewriting its whole chain (which an anchor shows).
LEGACY_AUDIT_GENESIS = "0" * 64
AUDIT_GENESIS = hashlib.sha256(b"flowc audit chain 2: events commit to their data").hexdigest()
NODE_RESULT_EVENT = "node.result"   # written by the store with every node result, by no one else


def canonical_json(value: Any) -> str:
    """The canonical JSON text the audit chain hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)



def _audit_hash(prev_hash: str, run_id: str, seq: int, ts: float, kind: str,
                actor: str | None, payload: Any) -> str:
    body = canonical_json({"run_id": run_id, "seq": seq, "ts": ts, "kind": kind,
                           "actor": actor, "payload": payload})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


_json_text = json.encoder.encode_basestring  # a str as json.dumps(..., ensure_ascii=False)


def _json_scalar(value: Any) -> str:
    """canonical_json of a scalar, without the encoder's set-up (the audit's hot path)."""
    if value is None:
        return "null"
    if type(value) is str:
        return _json_text(value)
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    return canonical_json(value)


def _audit_hash_text(prev_hash: str, run_id: str, seq: int, ts: float, kind: str,
                     actor: str | None, payload_text: str) -> str:
    """`_audit_hash` with the payload's canonical JSON already made: the same bytes (the
    body's keys in sorted order: actor, kind, payload, run_id, seq, ts), one dump less."""
    body = (f'{{"actor":{_json_scalar(actor)},"kind":{_json_scalar(kind)},'
            f'"payload":{payload_text},"run_id":{_json_scalar(run_id)},'
            f'"seq":{_json_scalar(seq)},"ts":{_json_scalar(ts)}}}')
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _normalised(payload: Mapping[str, Any]) -> tuple[Any, str]:
    """(the payload as it reads back, or None: parse the text for it; its canonical JSON):
    normalised through JSON first, so the hash is over exactly what is read back (int keys
    become strings, tuples lists). Only keys that are not strings make the text of what is
    read back differ (they are written as strings and sorted again): a payload whose keys
    are all strings (orjson, without OPT_NON_STR_KEYS, refuses any other) already gives that
    text, and is not parsed and written again."""
    text = canonical_json(payload)
    if _str_keys_only(payload):
        return None, text
    norm = json.loads(text)
    return norm, canonical_json(norm)


def _str_keys_only(value: Any) -> bool:
    if _orjson is None:  # pragma: no cover
        return False
    try:
        _orjson.dumps(value)
    except TypeError:  # a key that is not a str, or anything else orjson refuses
        return False
    return True


def text_sha256(text: str | None) -> str | None:
    """sha256 (hex) of a stored text's UTF-8 bytes; None for no value (SQL NULL). (A value
    put in a row as a BLOB or a number is hashed as what it is: it never matches the text.)"""
    if text is None:
        return None
    if isinstance(text, bytes):
        return hashlib.sha256(b"blob:" + text).hexdigest()
    if not isinstance(text, str):
        text = f"{type(text).__name__}:{text!r}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def node_result_payload(node_id: str, item: int, status: str, outcome: str | None,
                        inputs_json: str | None, output_json: str | None,
                        error: str | None) -> dict[str, Any]:
    """What a `node.result` event commits to: the node and item, its status and outcome, and
    the sha256 of its output, error and (when one is stored) inputs, as stored text."""
    payload = {"node": node_id, "item": item, "status": status, "outcome": outcome,
               "output": text_sha256(output_json), "error": text_sha256(error)}
    if inputs_json is not None:
        payload["inputs"] = text_sha256(inputs_json)
    return payload


def _node_result_payload(row: Sequence[Any]) -> tuple[Any, str]:
    payload = node_result_payload(row[1], row[2], row[3], row[7], row[5], row[6], row[8])
    # canonical_json(payload), its keys in sorted order, built directly (once per node)
    text = ",".join(f"{_json_text(k)}:{_json_scalar(payload[k])}" for k in sorted(payload))
    return payload, "{" + text + "}"
