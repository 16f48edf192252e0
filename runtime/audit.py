"""The audit trail as evidence: what each event commits to, checked against the stored data;
a self-contained export checked without the store; heads anchored outside the store.

    from flowc.runtime.audit import Anchor, export_run, verify_export, verify_run
    verify_run(store, run_id)                       # chain + data (as store.verify_audit)
    doc = export_run(store, run_id)                 # one JSON document, verifiable offline
    verify_export(doc, anchor=Anchor("heads.jsonl"))
    Anchor("s3://audit/heads.jsonl").record(store, store.touched_runs())

What the trail commits to (a run whose chain starts at `store.AUDIT_GENESIS`; an older run,
whose chain starts at 64 zeros, is checked for its chain, its plan, inputs, decisions,
outputs and status, not for its node results, and says so in a note):

- every node result: the store appends a `node.result` event in the transaction that writes
  the result, with the node, item, status, outcome and the sha256 of the stored output, error
  and inputs (their JSON text as stored). The last such event of a node must match its row;
  a row no event recorded, or an event whose row is gone, is reported.
- the run: `run.started` holds the plan hash and the inputs; the stored plan must hash to it
  (the plan's own content hash) and the run row must name it; `run.succeeded` holds the
  outputs, `run.failed` the error; the run's status must be the one its last terminal event
  gave it (and a run with a terminal event must be terminal).
- people: `gate.opened` / `ask.opened` name the task, what was shown and the prefilled form;
  `task.decided` holds the decision with its values and, as its actor, who decided;
  `task.timed_out` the timeout. The task rows must agree; a task opened by an event must
  still exist; a decided or timed-out task needs its event.

Anchors: one JSON line per head (`{"run", "seq", "head", "at"}`) appended to a file or fsspec
URL outside the store. Every anchored head must still be in the chain (that event, that
hash): a trail cut short, or a store rolled back to an older copy, no longer holds it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The chain's definition and the verification record come from the store's own modules, not
# the package: `Store.verify_audit` (store/trail.py) calls `verify_evidence` below.
from .store.chain import (
    AUDIT_GENESIS,
    LEGACY_AUDIT_GENESIS,
    NODE_RESULT_EVENT,
    _audit_hash,
    canonical_json,
    node_result_payload,
    text_sha256,
)
from .store.records import TERMINAL_RUN_STATUSES, AuditVerification

__all__ = ["EXPORT_FORMAT", "Anchor", "AnchorError", "AnchoredHead", "ExportError",
           "VERSIONS_PREFIX", "export_run", "verify_evidence", "verify_export", "verify_run",
           "verify_versions"]

EXPORT_FORMAT = "flowc-audit-export"
EXPORT_VERSION = 1
_TERMINAL_EVENTS = {"run.succeeded": "succeeded", "run.failed": "failed",
                    "run.cancelled": "cancelled"}


class ExportError(ValueError):
    """A file that is not a flowc audit export (one line: what is wrong with it)."""


class AnchorError(Exception):
    """An anchor that cannot be read or written (one line: the URL and what failed)."""


# ------------------------------------------------------------------------------ helpers


def _short(h: Any) -> str:
    return "none" if h is None else f"{str(h)[:12]}..."


def _where(node: str, item: int) -> str:
    return f"node `{node}`" if item < 0 else f"node `{node}` item {item}"


def _same_json(text: str | None, value: Any) -> bool:
    """Whether stored JSON text holds `value` (compared in canonical form)."""
    try:
        stored = None if text is None else json.loads(text)
        return canonical_json(stored) == canonical_json(value)
    except (TypeError, ValueError):
        return False


def value_sha256(value: Any) -> str:
    """sha256 of a value's canonical JSON (for an event that carries a hash, not the value)."""
    return text_sha256(canonical_json(value)) or ""


def _commits(payload: Mapping[str, Any], key: str, text: str | None) -> bool | None:
    """Whether the event's `key` (the value) or `key_sha256` (its hash) matches the stored
    JSON `text`; None when the event carries neither."""
    if key in payload:
        return _same_json(text, payload[key])
    if f"{key}_sha256" in payload:
        try:
            return value_sha256(None if text is None else json.loads(text)) == \
                payload[f"{key}_sha256"]
        except ValueError:
            return False
    return None


# ------------------------------------------------------------------------------ the chain


def _check_chain(run_id: str, run: Mapping[str, Any] | None, events: list[Mapping[str, Any]],
                 problems: list[str]) -> list[tuple[Mapping[str, Any], Any]]:
    """Recompute the chain; returns the events with their parsed payloads."""
    parsed = []
    genesis = events[0]["prev_hash"] if events and events[0]["prev_hash"] in (
        AUDIT_GENESIS, LEGACY_AUDIT_GENESIS) else AUDIT_GENESIS
    prev, expected, last_seq = genesis, 1, 0
    for e in events:
        seq = e["seq"]
        if seq != expected:
            problems.append(f"event {seq}: expected event {expected} next (events deleted, "
                            "inserted or renumbered)")
        if e["prev_hash"] != prev:
            problems.append(f"event {seq}: prev_hash is not the hash of the event before it "
                            "(the chain is broken: an event was deleted, inserted or moved)")
        payload = None
        try:
            payload = json.loads(e["payload_json"])
            recomputed = _audit_hash(e["prev_hash"], run_id, seq, e["ts"], e["kind"],
                                     e["actor"], payload)
        except (TypeError, ValueError) as exc:
            problems.append(f"event {seq}: its payload is not valid JSON ({exc})")
        else:
            if recomputed != e["hash"]:
                problems.append(f"event {seq}: its hash does not match its content (the event "
                                "was changed)")
        parsed.append((e, payload if isinstance(payload, dict) else {}))
        prev, expected, last_seq = e["hash"], seq + 1, seq
    if run is not None:
        head_seq, head = run["audit_seq"], run["audit_head"]
        empty_ok = not events and head_seq == 0 and head in (AUDIT_GENESIS, LEGACY_AUDIT_GENESIS)
        if not empty_ok and (head_seq != last_seq or head != prev):
            problems.append(f"the run records {head_seq} events ending in {_short(head)}, the "
                            f"chain has {len(events)} ending at event {last_seq} (events removed "
                            "from or appended to the end)")
    return parsed


# ------------------------------------------------------------------------------ the data


def _check_run(run: Mapping[str, Any], plan: str | None,
               parsed: list[tuple[Mapping[str, Any], Any]], problems: list[str]) -> None:
    started = next(((e, p) for e, p in parsed if e["kind"] == "run.started"), None)
    if started is not None:
        e, p = started
        if "plan_hash" in p and p["plan_hash"] != run["plan_hash"]:
            problems.append(f"the run names plan {_short(run['plan_hash'])}, event {e['seq']} "
                            f"(run.started) plan {_short(p['plan_hash'])}: the run was pointed "
                            "at another plan")
        if plan is None:
            problems.append(f"the run's plan {_short(run['plan_hash'])} is missing from the "
                            "store")
        else:
            from flowc.compiler.plan import load_data, plan_hash

            try:
                actual = plan_hash(load_data(plan))
            except (TypeError, ValueError, AttributeError):
                actual = None
            if actual != run["plan_hash"]:
                problems.append(f"the stored plan {_short(run['plan_hash'])} does not hash to "
                                f"its name (it hashes to {_short(actual)}): the plan was changed")
        if _commits(p, "inputs", run["inputs_json"]) is False:
            problems.append(f"the run's stored inputs differ from those event {e['seq']} "
                            "(run.started) recorded")
    ends = [(e, p) for e, p in parsed if e["kind"] in _TERMINAL_EVENTS]
    status = run["status"]
    if ends:
        e, p = ends[-1]
        ended = _TERMINAL_EVENTS[e["kind"]]
        if status != ended:
            problems.append(f"the run's status is {status}, but event {e['seq']} "
                            f"({e['kind']}) ended it {ended}: its status was changed")
        elif ended == "succeeded" and _commits(p, "outputs", run["outputs_json"]) is False:
            problems.append(f"the run's stored outputs differ from those event {e['seq']} "
                            "(run.succeeded) recorded")
        elif ended == "failed" and "error" in p and p["error"] != run["error"]:
            problems.append(f"the run's stored error differs from the one event {e['seq']} "
                            "(run.failed) recorded")
    elif status in TERMINAL_RUN_STATUSES and started is not None:
        problems.append(f"the run's status is {status}, but no event of its trail ended it")


def _check_nodes(nodes: list[Mapping[str, Any]], parsed: list[tuple[Mapping[str, Any], Any]],
                 problems: list[str]) -> None:
    latest: dict[tuple[str, int], tuple[int, Mapping[str, Any]]] = {}
    for e, p in parsed:
        node, item = p.get("node"), p.get("item", -1)
        if e["kind"] == NODE_RESULT_EVENT and isinstance(node, str) and type(item) is int:
            latest[(node, item)] = (e["seq"], p)
    rows = {(n["node_id"], n["item"]): n for n in nodes}
    for key, n in sorted(rows.items()):
        where = _where(*key)
        found = latest.get(key)
        if found is None:
            if n["status"] != "running":
                problems.append(f"{where}: its stored result ({n['status']}) is in no event of "
                                "the trail (a result put in behind the trail's back)")
            continue
        seq, p = found
        if n["status"] == "running":
            if p.get("status") not in ("running", "waiting"):
                problems.append(f"{where}: its result ({p.get('status')}, event {seq}) was "
                                "removed: the store says it is running")
            continue
        stored = node_result_payload(n["node_id"], n["item"], n["status"], n["outcome"],
                                     n["inputs_json"], n["output_json"], n["error"])
        for field_ in ("status", "outcome", "output", "error"):
            if stored[field_] != p.get(field_):
                what = {"output": "output", "error": "error"}.get(field_)
                if what:
                    problems.append(f"{where}: its stored {what} differs from the one event "
                                    f"{seq} recorded (sha256 {_short(p.get(field_))} recorded, "
                                    f"{_short(stored[field_])} stored)")
                else:
                    problems.append(f"{where}: its stored {field_} is {stored[field_]!r}, event "
                                    f"{seq} recorded {p.get(field_)!r}")
        if "inputs" in p and stored.get("inputs") != p["inputs"]:
            problems.append(f"{where}: its stored inputs differ from those event {seq} recorded")
    for key, (seq, p) in sorted(latest.items()):
        if key not in rows:
            problems.append(f"{_where(*key)}: its result ({p.get('status')}), recorded by event "
                            f"{seq}, was deleted from the store")


def _load(text: str | None) -> Any:
    try:
        return None if text is None else json.loads(text)
    except ValueError:
        return None


def _check_tasks(tasks: list[Mapping[str, Any]], parsed: list[tuple[Mapping[str, Any], Any]],
                 problems: list[str], engine_run: bool) -> None:
    rows = {t["id"]: t for t in tasks}
    opened: dict[str, tuple[int, str, Mapping[str, Any]]] = {}
    decided: dict[str, tuple[int, str | None, Mapping[str, Any]]] = {}
    timed: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for e, p in parsed:
        task = p.get("task")
        if not isinstance(task, str):
            continue
        if e["kind"] in ("gate.opened", "ask.opened"):
            opened[task] = (e["seq"], e["kind"], p)
        elif e["kind"] == "task.decided":
            decided[task] = (e["seq"], e["actor"], p)
        elif e["kind"] == "task.timed_out":
            timed[task] = (e["seq"], p)
    gone = set()
    for tid, (seq, kind, p) in opened.items():
        t = rows.get(tid)
        if t is None:
            gone.add(tid)
            problems.append(f"task {tid} ({kind.split('.')[0]} `{p.get('node')}`), opened by "
                            f"event {seq}, was deleted from the store")
            continue
        if "shown" in p and not _same_json(t["show_json"], p["shown"]):
            problems.append(f"task {tid}: what it shows differs from what event {seq} recorded")
        form = _load(t["form_json"])
        if kind == "gate.opened" and "form" in p and (
                not isinstance(form, dict) or canonical_json(form.get("values")) !=
                canonical_json(p["form"])):
            problems.append(f"task {tid}: its prefilled form differs from the one event {seq} "
                            "recorded")
    for tid, (seq, actor, p) in decided.items():
        t = rows.get(tid)
        if t is None:
            if tid not in gone:
                problems.append(f"task {tid}, decided by {actor} in event {seq}, was deleted "
                                "from the store")
            continue
        if t["status"] != "decided":
            problems.append(f"task {tid}: event {seq} records a decision by {actor}, but the "
                            f"store says it is {t['status']} (the decision was removed)")
            continue
        if t["decided_by"] != actor:
            problems.append(f"task {tid}: decided by {t['decided_by']} in the store, by {actor} "
                            f"in event {seq}")
        if _commits(p, "decision", t["decision_json"]) is False:
            problems.append(f"task {tid}: its stored decision differs from the one event {seq} "
                            "recorded (its outcome or values were changed)")
    for tid, (seq, p) in timed.items():
        t = rows.get(tid)
        if t is None:
            if tid not in gone:
                problems.append(f"task {tid}, timed out in event {seq}, was deleted from the "
                                "store")
        elif t["status"] != "timed_out":
            problems.append(f"task {tid}: event {seq} timed it out, but the store says it is "
                            f"{t['status']}")
        elif "then" in p and p["then"] != t["timeout_outcome"]:
            problems.append(f"task {tid}: its timeout outcome is {t['timeout_outcome']!r} in "
                            f"the store, {p['then']!r} in event {seq}")
    for tid, t in rows.items():
        if t["status"] == "decided" and tid not in decided:
            problems.append(f"task {tid} is decided in the store (by {t['decided_by']}), but "
                            "no task.decided event records it")
        elif t["status"] == "timed_out" and tid not in timed and engine_run:
            problems.append(f"task {tid} timed out in the store, but no task.timed_out event "
                            "records it")
        if engine_run and tid not in opened:
            problems.append(f"task {tid} ({t['kind']} `{t['node_id']}`) is in the store, but no "
                            "event opened it")


# ------------------------------------------------------------------------------ anchors


# An anchored head of a flow's version history (not a run's trail) is keyed `versions/FLOW`.
VERSIONS_PREFIX = "versions/"


@dataclass(frozen=True)
class AnchoredHead:
    run: str
    seq: int
    head: str
    at: float


class Anchor:
    """Heads appended, one JSON line each, to a file or fsspec URL outside the store (best:
    storage only ever appended to: a WORM bucket, another machine, a transparency log)."""

    def __init__(self, url: str):
        self.url = str(url)

    def __repr__(self) -> str:
        return f"Anchor({self.url!r})"

    def record(self, store, run_ids: Iterable[str]) -> list[AnchoredHead]:
        """Append the current head of each run (one write for all of them)."""
        ids = sorted(set(run_ids))
        if not ids:
            return []
        now = time.time()
        return self._append_heads([AnchoredHead(rid, seq, head, now) for rid, (seq, head)
                                   in sorted(store.audit_heads(ids).items()) if seq > 0])

    def record_versions(self, store, flows: Iterable[str]) -> list[AnchoredHead]:
        """Append the head of each flow's version history, as `versions/FLOW` (a run's id
        never holds a `/`)."""
        now = time.time()
        heads = []
        for flow in sorted(set(flows)):
            head = store.version_chain_head(flow)
            if head is not None and head[0] > 0:
                heads.append(AnchoredHead(VERSIONS_PREFIX + flow, head[0], head[1], now))
        return self._append_heads(heads)

    def _append_heads(self, heads: list[AnchoredHead]) -> list[AnchoredHead]:
        if heads:
            self._append("".join(
                json.dumps({"run": h.run, "seq": h.seq, "head": h.head, "at": h.at},
                           sort_keys=True) + "\n" for h in heads).encode("utf-8"))
        return heads

    def _append(self, data: bytes) -> None:
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(self.url)
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            if parent:
                fs.makedirs(parent, exist_ok=True)
            with fs.open(path, "ab") as f:  # never a rewrite: an anchor only grows
                f.write(data)
        except Exception as e:  # any backend's failure, as one line
            raise AnchorError(f"the audit anchor {self.url} could not be written: "
                              f"{' '.join(str(e).split()) or type(e).__name__}") from e

    def heads(self, run_id: str | None = None) -> list[AnchoredHead]:
        """The heads anchored (of one run, or all), in the order they were appended."""
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(self.url)
            if not fs.exists(path):
                return []
            data = fs.cat_file(path)
        except Exception as e:
            raise AnchorError(f"the audit anchor {self.url} could not be read: "
                              f"{' '.join(str(e).split()) or type(e).__name__}") from e
        out = []
        for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                h = AnchoredHead(str(d["run"]), int(d["seq"]), str(d["head"]), float(d["at"]))
                if not (0 <= h.at < 1e11 and 0 < h.seq < 2**62):  # also NaN and inf
                    raise ValueError("its seq or time is out of range")
            except (ValueError, KeyError, TypeError, OverflowError) as e:
                raise AnchorError(f"the audit anchor {self.url}: line {n} is not an anchored "
                                  f"head ({e})") from None
            if run_id is None or h.run == run_id:
                out.append(h)
        return out


def _check_anchor(events: list[Mapping[str, Any]], anchored: list[AnchoredHead], url: str,
                  problems: list[str], what: str = "trail") -> None:
    by_seq = {e["seq"]: e["hash"] for e in events}
    last = max(by_seq, default=0)
    for h in anchored:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(h.at)) + " UTC"
        if h.seq > last:
            problems.append(f"the anchor {url} holds event {h.seq} (head {_short(h.head)}, "
                            f"anchored {when}); the {what} has {last} events: it was cut short "
                            "or rolled back")
        elif by_seq.get(h.seq) != h.head:
            problems.append(f"event {h.seq} is not the one anchored in {url} at {when} (head "
                            f"{_short(h.head)}, the {what} has {_short(by_seq.get(h.seq))}): "
                            f"the {what} was rewritten or rolled back")


# ------------------------------------------------------------------------------ verifying


def verify_evidence(evidence: Mapping[str, Any], run_id: str | None = None, *,
                    anchor: Anchor | None = None,
                    anchored: list[AnchoredHead] | None = None) -> AuditVerification:
    """Check a run's evidence (`store.audit_evidence`, or an export): the chain, the data its
    events commit to, and with `anchor` (or its heads, `anchored`) the anchored heads."""
    run = evidence.get("run")
    run_id = run_id or (run or {}).get("id") or ""
    events = list(evidence.get("events") or [])
    problems: list[str] = []
    notes: list[str] = []
    if run is None:
        problems.append(f"no run {run_id}")
    parsed = _check_chain(run_id, run, events, problems)
    if run is not None:
        _check_run(run, evidence.get("plan"), parsed, problems)
        engine_run = any(e["kind"] == "run.started" for e, _ in parsed)
        genesis = events[0]["prev_hash"] if events else run.get("audit_head")
        if genesis == LEGACY_AUDIT_GENESIS:
            notes.append("the run was recorded before node results were committed to its "
                         "trail: its node results are not checked")
        else:
            _check_nodes(list(evidence.get("nodes") or []), parsed, problems)
        _check_tasks(list(evidence.get("tasks") or []), parsed, problems, engine_run)
    if anchor is not None or anchored is not None:
        url = anchor.url if anchor is not None else "the anchor"
        heads = anchored if anchored is not None else anchor.heads(run_id)
        heads = [h for h in heads if h.run == run_id]
        if heads:
            _check_anchor(events, heads, url, problems)
            notes.append(f"{len(heads)} anchored head(s) in {url}, the last at event "
                         f"{max(h.seq for h in heads)}")
        else:
            notes.append(f"the run has no head in {url}: nothing outside the store vouches for "
                         "its trail")
    return AuditVerification(not problems, problems, len(events), notes)


def verify_versions(store, flow: str, *, anchor: Anchor | None = None,
                    anchored: list[AnchoredHead] | None = None) -> list[str]:
    """The problems of a flow's version history (empty: intact): its chain and rows
    (`store.verify_version_chain`) and, with `anchor` (or its heads, `anchored`), every head
    anchored for it: a history rewritten with every hash recomputed, or cut short, no longer
    holds the event an anchor recorded."""
    problems = store.verify_version_chain(flow)
    if anchor is not None or anchored is not None:
        url = anchor.url if anchor is not None else "the anchor"
        heads = anchored if anchored is not None else anchor.heads(VERSIONS_PREFIX + flow)
        events = [{"seq": e.seq, "hash": e.hash} for e in store.version_events(flow)]
        _check_anchor(events, heads, url, problems, what="history")
    return problems


def verify_run(store, run_id: str, *, anchor: Anchor | None = None) -> AuditVerification:
    """`store.verify_audit(run_id)`, and against the heads in `anchor` when given."""
    return verify_evidence(store.audit_evidence(run_id), run_id, anchor=anchor)


# ------------------------------------------------------------------------------ exports


def export_run(store, run_id: str) -> dict[str, Any]:
    """One self-contained document: the run, its plan, every event and every row its events
    commit to, as stored (JSON values as their stored text, so every hash can be recomputed).
    `verify_export` checks it without the store."""
    from flowc import __version__

    ev = store.audit_evidence(run_id)
    if ev["run"] is None:
        raise KeyError(run_id)
    return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "flowc": __version__,
            "exported_at": time.time(), "run_id": run_id,
            "head": {"seq": ev["run"]["audit_seq"], "hash": ev["run"]["audit_head"]},
            "run": ev["run"], "plan": ev["plan"], "events": ev["events"],
            "nodes": ev["nodes"], "tasks": ev["tasks"]}


_TEXT, _OPT_TEXT, _INT, _NUM = (str,), (str, type(None)), (int,), (int, float)
_ROW_TYPES = {
    "events": {"run_id": _TEXT, "seq": _INT, "ts": _NUM, "kind": _TEXT, "actor": _OPT_TEXT,
               "payload_json": _TEXT, "prev_hash": _TEXT, "hash": _TEXT},
    "nodes": {"node_id": _TEXT, "item": _INT, "status": _TEXT, "inputs_json": _OPT_TEXT,
              "output_json": _OPT_TEXT, "outcome": _OPT_TEXT, "error": _OPT_TEXT},
    "tasks": {"id": _TEXT, "node_id": _TEXT, "kind": _TEXT, "status": _TEXT,
              "show_json": _OPT_TEXT, "form_json": _OPT_TEXT, "timeout_outcome": _OPT_TEXT,
              "decision_json": _OPT_TEXT, "decided_by": _OPT_TEXT},
}
_RUN_TYPES = {"id": _TEXT, "plan_hash": _TEXT, "status": _TEXT, "inputs_json": _OPT_TEXT,
              "outputs_json": _OPT_TEXT, "error": _OPT_TEXT, "audit_seq": _INT,
              "audit_head": _TEXT}


def _shape(where: str, row: Any, types: Mapping[str, tuple[type, ...]]) -> None:
    if not isinstance(row, dict):
        raise ExportError(f"{where} is not an object")
    for key, allowed in types.items():
        if key not in row:
            raise ExportError(f"{where} has no `{key}`")
        value = row[key]
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise ExportError(f"{where}: `{key}` is {type(value).__name__}, not "
                              f"{' or '.join('null' if t is type(None) else t.__name__ for t in allowed)}")


def load_export(doc: Any) -> dict[str, Any]:
    """The evidence in an export, its shape checked (ExportError says what is wrong)."""
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise ExportError(f"not a flowc audit export (no \"format\": \"{EXPORT_FORMAT}\")")
    if doc.get("version") != EXPORT_VERSION:
        raise ExportError(f"an audit export of version {doc.get('version')!r}; this flowc "
                          f"reads version {EXPORT_VERSION}")
    _shape("the export's `run`", doc.get("run"), _RUN_TYPES)
    for key, types in _ROW_TYPES.items():
        rows = doc.get(key)
        if not isinstance(rows, list):
            raise ExportError(f"the export's `{key}` is not a list")
        for i, row in enumerate(rows):
            _shape(f"the export's `{key}`[{i}]", row, types)
    if doc.get("plan") is not None and not isinstance(doc["plan"], str):
        raise ExportError("the export's `plan` is not the plan's JSON text")
    return {"run": doc["run"], "plan": doc.get("plan"), "events": doc["events"],
            "nodes": doc["nodes"], "tasks": doc["tasks"]}


def verify_export(doc: Any, *, anchor: Anchor | None = None) -> AuditVerification:
    """Check an export offline: its chain, its data, its recorded head, the anchor."""
    ev = load_export(doc)
    run_id = str(ev["run"]["id"])
    if any(e.get("run_id") != run_id for e in ev["events"]):
        raise ExportError("the export holds events of another run")
    check = verify_evidence(ev, run_id, anchor=anchor)
    head = doc.get("head")
    head = head if isinstance(head, dict) else {}
    if head.get("seq") != ev["run"]["audit_seq"] or head.get("hash") != ev["run"]["audit_head"]:
        check.problems.append("the export's head is not the run's recorded head")
        return AuditVerification(False, check.problems, check.events, check.notes)
    return check
