"""The orchestration turn (runtime/turn.py): runs in one process take turns at the engine's own
work and give the turn up for slow work. What would break it: a holder that waits for a thread
that wants the turn (deadlock), a waiter interrupted in the queue (the turn lost for good), a
fork while another thread holds it (the child stuck), barging (a waiter starved), and a model
call, a sandbox or a sub-flow done while holding it (runs no longer overlap). Every wait here is
a hang bound, never a timing claim."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from flowc_testkit import plan_of, wait_for

from flowc.compiler.api import compile_source
from flowc.config import ProjectConfig
from flowc.runtime.engine import Engine
from flowc.runtime.models.fakeserver import FakeModelServer
from flowc.runtime.models.router import Models
from flowc.runtime.turn import TURN, Turn

HANG = 60.0  # seconds: only a hang takes this long


def _until(cond, what: str) -> None:
    wait_for(cond, what, timeout=HANG, step=0.001)  # a hang bound, never a speed claim


def _queued(turn: Turn, n: int) -> None:
    _until(lambda: len(turn._waiters) >= n, f"{n} waiters")


def _join(*threads: threading.Thread) -> None:
    for t in threads:
        t.join(HANG)
        assert not t.is_alive(), "a thread hung"


class _Holder:
    """A thread that takes `turn` (queueing first if it must), says so (`inside`) and keeps
    it until `leave()`."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.inside = threading.Event()
        self.go = threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        with self.turn.held_here():
            self.inside.set()
            self.go.wait(HANG)

    def start(self) -> _Holder:
        self.thread.start()
        return self

    def leave(self) -> None:
        self.go.set()
        _join(self.thread)


# ---- the primitive ------------------------------------------------------------------------


def test_waiters_get_the_turn_first_come_first_served():
    turn = Turn()
    order: list[int] = []
    turn.acquire()

    def wait(k: int) -> None:
        with turn.held_here():
            order.append(k)

    threads = []
    for k in range(5):
        t = threading.Thread(target=wait, args=(k,))
        t.start()
        _queued(turn, k + 1)  # each is in the queue before the next arrives
        threads.append(t)
    turn.release()
    _join(*threads)
    assert order == [0, 1, 2, 3, 4]
    assert turn._owner is None and not turn._waiters


def test_the_turn_is_reentrant_and_held_until_the_last_release():
    turn = Turn()
    got = threading.Event()
    turn.acquire()
    turn.acquire()
    t = threading.Thread(target=lambda: (turn.acquire(), got.set(), turn.release()))
    t.start()
    _queued(turn, 1)
    turn.release()
    assert turn.held() and not got.is_set()  # one release of two: still this thread's
    turn.release()
    _join(t)
    assert got.is_set() and turn._owner is None


def test_releasing_a_turn_not_held_is_refused():
    turn = Turn()
    with pytest.raises(RuntimeError):
        turn.release()
    turn.acquire()
    refused: list[BaseException] = []

    def other() -> None:
        try:
            turn.release()
        except RuntimeError as e:
            refused.append(e)

    t = threading.Thread(target=other)
    t.start()
    _join(t)
    assert refused and turn.held()
    turn.release()


def test_given_up_lets_a_waiter_in_and_takes_the_same_depth_back():
    turn = Turn()
    turn.acquire()
    turn.acquire()
    other = _Holder(turn).start()
    _queued(turn, 1)
    with turn.given_up():
        _until(other.inside.is_set, "the waiter to get the turn")  # it got in meanwhile
        assert not turn.held()
        other.go.set()
    assert turn.held() and turn._depth == 2
    other.leave()
    turn.release()
    turn.release()
    assert turn._owner is None


def test_given_up_without_the_turn_changes_nothing():
    turn = Turn()
    with turn.given_up():
        assert turn._owner is None
    assert turn._owner is None


def test_pass_on_hands_the_turn_to_the_waiter_once_the_slice_is_used():
    turn = Turn(slice_seconds=0.0)
    order: list[str] = []
    turn.acquire()
    t = threading.Thread(target=lambda: (turn.acquire(), order.append("waiter"),
                                         turn.release()))
    t.start()
    _queued(turn, 1)
    turn.pass_on()  # the waiter goes first; this thread queues behind it
    order.append("holder")
    assert turn.held()
    turn.release()
    _join(t)
    assert order == ["waiter", "holder"]


def test_pass_on_within_the_slice_keeps_the_turn():
    turn = Turn(slice_seconds=3600.0)
    turn.acquire()
    t = threading.Thread(target=lambda: (turn.acquire(), turn.release()))
    t.start()
    _queued(turn, 1)
    turn.pass_on()
    assert turn.held() and len(turn._waiters) == 1
    turn.release()
    _join(t)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals are delivered to the main thread")
def test_a_waiter_interrupted_leaves_the_queue_and_the_turn_goes_on():
    turn = Turn()
    holder = _Holder(turn).start()
    _until(holder.inside.is_set, "the holder")

    class Interrupted(Exception):
        pass

    def interrupt(signum, frame):
        raise Interrupted

    before = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Interrupted):
            turn.acquire()  # waits behind the holder until the alarm
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
    assert not turn._waiters  # it left the queue
    holder.leave()
    assert turn._owner is None  # not handed to a waiter that is gone
    with turn.held_here():  # and it can be taken again
        assert turn.held()


def test_a_waiter_interrupted_after_it_was_handed_the_turn_passes_it_on():
    turn = Turn()
    turn.acquire()
    me = threading.get_ident()

    class Baton:
        """Stands for the waiter's lock: the turn is handed over, then the wait raises."""

        def acquire(self):
            if not hasattr(self, "armed"):
                self.armed = True
                return True
            with turn._mutex:  # the holder hands over just as the interrupt lands
                assert turn._waiters[0][0] == me
            turn._owner, turn._depth = me, 1
            turn._waiters.popleft()
            raise KeyboardInterrupt

        def release(self):
            pass

    import flowc.runtime.turn as module

    real = module.threading.Lock
    turn._owner = -1  # held by "another thread"
    module.threading.Lock = Baton
    try:
        with pytest.raises(KeyboardInterrupt):
            turn.acquire()
    finally:
        module.threading.Lock = real
    assert turn._owner is None and turn._depth == 0  # passed on: no one is stuck behind it


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")
def test_a_child_forked_while_another_thread_holds_the_turn_can_take_it():
    holder = _Holder(TURN).start()
    _until(holder.inside.is_set, "the holder")
    try:
        pid = os.fork()
        if pid == 0:  # the child: the parent's holder is no thread here
            code = 1
            try:
                done = threading.Event()
                w = threading.Thread(target=lambda: (TURN.acquire(), TURN.release(),
                                                     done.set()), daemon=True)
                w.start()
                code = 0 if done.wait(10) else 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        holder.leave()


# ---- in the engine ------------------------------------------------------------------------

SLOW = '''flow s version "1.0.0"
input topic: str
node brief = llm {
  prompt "Write about {topic}."
  model  "default"
}
output text = brief.text
'''


def _engine(store, server, monkeypatch) -> Engine:
    monkeypatch.setenv("FLOWC_TEST_KEY", "sk-test")
    cfg = server.model_config("default", "openai", api_key_env="FLOWC_TEST_KEY")
    return Engine(store, models=Models(ProjectConfig(None, {"default": cfg})))


def test_runs_in_threads_overlap_in_their_model_calls(store, monkeypatch):
    # each model call waits until the other run's call has arrived: if a thread kept the turn
    # through its call, the other could never make one, and the barrier would break
    meeting = threading.Barrier(2, timeout=HANG)
    met: list[str] = []

    def handler(protocol, body):
        meeting.wait()
        met.append(protocol)
        return None  # the default answer

    with FakeModelServer(api_key="sk-test", handler=handler) as server:
        engine = _engine(store, server, monkeypatch)
        runs: dict[str, object] = {}
        threads = [threading.Thread(target=lambda k=k: runs.__setitem__(
            k, engine.start(plan_of(SLOW), {"topic": k}))) for k in ("a", "b")]
        for t in threads:
            t.start()
        _join(*threads)
    assert met == ["openai", "openai"] and not meeting.broken
    assert {k: r.status for k, r in runs.items()} == {"a": "succeeded", "b": "succeeded"}
    assert TURN._owner is None and not TURN._waiters


CHILD = '''flow child version "1.0.0"
input x: int
node ok = await human(to: role("lead"), actions: [approve], timeout: 1h -> approve,
  when: false)
output y: str? = ok.outcome
output z: int = x + 1
'''


def test_sub_flows_called_side_by_side_do_not_deadlock(store, tmp_path):
    # the parent waits for helper threads that start child runs (which take the turn)
    (tmp_path / "child.flow").write_text(CHILD)
    text = '''flow parent version "1.0.0"
use flow "child.flow" as child
node a = flow child(x: 1)
node b = flow child(x: 2)
node c = flow child(x: 3)
output ys: list<int> = [a.z, b.z, c.z]
'''
    result = compile_source(text, str(tmp_path / "parent.flow"), base_dir=tmp_path)
    assert result.plan is not None, [d.message for d in result.diagnostics.items]
    engine = Engine(store)
    out: list = []
    threads = [threading.Thread(target=lambda: out.append(engine.start(result.plan, {})))
               for _ in range(4)]
    for t in threads:
        t.start()
    _join(*threads)
    assert [r.status for r in out] == ["succeeded"] * 4
    assert all(r.outputs == {"ys": [2, 3, 4]} for r in out)
    assert TURN._owner is None and not TURN._waiters


def test_many_runs_started_from_threads_all_finish_with_sound_trails(store):
    from flowc.runtime.audit import verify_run

    chain = '''flow chain version "1.0.0"
node n0 = await human(to: role("lead"), actions: [approve], timeout: 1h -> approve,
  when: false)
node n1 = await human(to: role("lead"), actions: [approve], timeout: 1h -> approve,
  when: false)
  after n0.approved
node n2 = await human(to: role("lead"), actions: [approve], timeout: 1h -> approve,
  when: false)
  after n1.approved
output last: str? = n2.outcome
'''
    plan = plan_of(chain)
    engine = Engine(store)
    start = threading.Barrier(40, timeout=HANG)
    out: list = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            start.wait()
            out.append(engine.start(plan, {}))
        except BaseException as e:  # counted: every run must succeed
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(40)]
    for t in threads:
        t.start()
    _join(*threads)
    assert not errors, errors[:1]
    assert [r.status for r in out] == ["succeeded"] * 40
    for r in out:
        assert verify_run(store, r.id).ok, r.id
    assert TURN._owner is None and not TURN._waiters


# ---- the worker: claimed runs advanced side by side ----------------------------------------


def _queued_runs(engine: Engine, n: int) -> list[str]:
    return [engine.start(plan_of(SLOW), {"topic": str(k)}, advance=False).id for k in range(n)]


def test_a_worker_advances_its_claimed_runs_side_by_side(store, monkeypatch):
    # three runs, three threads: each model call waits for all three to have arrived
    meeting = threading.Barrier(3, timeout=HANG)

    def handler(protocol, body):
        meeting.wait()
        return None

    with FakeModelServer(api_key="sk-test", handler=handler) as server:
        engine = _engine(store, server, monkeypatch)
        ids = _queued_runs(engine, 3)
        done = engine.resume_interrupted(threads=3)
    assert not meeting.broken
    assert done == ids  # in the order they were claimed
    assert [store.get_run(i).status for i in ids] == ["succeeded"] * 3
    assert all(store.get_run(i).lease_owner is None for i in ids)
    assert TURN._owner is None and not TURN._waiters


def test_one_thread_advances_them_one_after_another(store, monkeypatch):
    inside = []
    most = []
    lock = threading.Lock()

    def handler(protocol, body):
        with lock:
            inside.append(1)
            most.append(len(inside))
        time.sleep(0.05)
        with lock:
            inside.pop()
        return None

    with FakeModelServer(api_key="sk-test", handler=handler) as server:
        engine = _engine(store, server, monkeypatch)
        ids = _queued_runs(engine, 3)
        assert engine.resume_interrupted(threads=1) == ids
    assert max(most) == 1


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals are delivered to the main thread")
def test_a_worker_interrupted_gives_every_run_back_and_commits_nothing_more(store, monkeypatch):
    arrived = threading.Semaphore(0)
    release = threading.Event()

    def handler(protocol, body):
        arrived.release()
        release.wait(HANG)
        return None

    def interrupt(signum, frame):
        threading.Timer(0.2, release.set).start()  # the calls in flight answer after
        raise KeyboardInterrupt

    with FakeModelServer(api_key="sk-test", handler=handler) as server:
        engine = _engine(store, server, monkeypatch)
        ids = _queued_runs(engine, 3)  # two threads: the third is not started
        before = signal.signal(signal.SIGALRM, interrupt)
        try:
            def alarm_when_both_called():
                for _ in range(2):
                    assert arrived.acquire(timeout=HANG)
                signal.setitimer(signal.ITIMER_REAL, 0.05)

            threading.Thread(target=alarm_when_both_called, daemon=True).start()
            with pytest.raises(KeyboardInterrupt):
                engine.resume_interrupted(threads=2)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, before)
        runs = [store.get_run(i) for i in ids]
        assert [r.lease_owner for r in runs] == [None] * 3  # every lease given back
        assert all(r.status != "succeeded" for r in runs)  # the answers came after: no result
        assert not any(n.node_id == "brief" for i in ids for n in store.node_results(i))
        release.set()
        # nothing lost: a worker takes them over from their last committed node
        assert engine.resume_interrupted(threads=2) == ids
    assert [store.get_run(i).status for i in ids] == ["succeeded"] * 3
    assert TURN._owner is None and not TURN._waiters


@pytest.mark.parametrize(("args", "env", "said"), [
    (["worker", "--once", "--threads", "0"], {},
     "--threads: give a whole number from 1 to 256, not 0"),
    (["worker", "--once", "--threads", "x"], {}, "--threads"),
    (["worker", "--once"], {"FLOWC_RUN_THREADS": "many"},
     "FLOWC_RUN_THREADS='many': give a whole number"),
    (["worker", "--once"], {"FLOWC_RUN_THREADS": "0"},
     "FLOWC_RUN_THREADS='0': give a whole number"),
    (["serve", "--threads", "300"], {}, "--threads: give a whole number from 1 to 256"),
    (["worker", "--engine", "temporal", "--threads", "2"], {},
     "--engine temporal takes no --threads"),
])
def test_a_bad_thread_count_is_one_line(tmp_path, args, env, said):
    import subprocess
    import sys

    got = subprocess.run([sys.executable, "-m", "flowc", *args],
                         cwd=tmp_path, capture_output=True, text=True, timeout=HANG,
                         env={**os.environ, **env})
    assert got.returncode != 0
    assert said in got.stderr and "Traceback" not in got.stderr, got.stderr
    assert len(got.stderr.strip().splitlines()) <= 2, got.stderr


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals are delivered to the main thread")
def test_an_interrupt_while_taking_the_turn_back_is_the_error_seen():
    # Ctrl-C lands while a thread waits to take the turn back after slow work: the
    # KeyboardInterrupt goes on (no "not held" error in its place) and the turn is not stranded
    turn = Turn()
    other = _Holder(turn)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGALRM, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            with turn.held_here(), turn.given_up():
                other.start()
                _until(other.inside.is_set, "the other thread to take the turn")
                signal.setitimer(signal.ITIMER_REAL, 0.1)  # lands while taking it back
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
        other.leave()
    assert turn._owner is None and not turn._waiters



RACE = '''flow race version "1.0.0"
node g = await human(to: role("lead"), actions: [approve], timeout: 1h -> approve)
node x = llm {
  prompt "QUICK"
  model  "default"
}
node m = llm {
  prompt "SLOWPROMPT after {x.text}"
  model  "default"
}
output a: str? = g.outcome
output t = m.text
'''


def test_a_decision_from_another_thread_waits_for_the_pass_in_flight(store, monkeypatch):
    # thread A's pass is inside `m`'s model call (the gate's task committed with `x`'s batch)
    # when thread B decides the gate: B's advance waits for A's pass to end, then makes its
    # own; `m` is called once and the run ends
    in_call, go = threading.Event(), threading.Event()
    calls: list[int] = []

    def handler(protocol, body):
        if "SLOWPROMPT" in str(body):
            calls.append(1)
            in_call.set()
            go.wait(HANG)
        return None

    with FakeModelServer(api_key="sk-test", handler=handler) as server:
        engine = _engine(store, server, monkeypatch)
        out: dict = {}
        a = threading.Thread(target=lambda: out.__setitem__("a", engine.start(plan_of(RACE),
                                                                               {})))
        a.start()
        try:
            assert in_call.wait(HANG), "the model call never came"
            (task,) = store.list_tasks(status="pending")
            b = threading.Thread(target=lambda: out.__setitem__("b", engine.decide(
                task.id, action="approve", by="ann", roles=("lead",))))
            b.start()
            _until(lambda: store.get_task(task.id).status != "pending", "the decision")
            _until(lambda: engine._advancer.get(task.run_id) == a.ident, "A in its pass")
        finally:
            go.set()  # A's pass ends; B's, waiting, begins
        _join(a, b)
    assert calls == [1]
    assert out["b"].status == "succeeded", out["b"]
    run = store.get_run(task.run_id)
    assert run.status == "succeeded" and run.outputs["a"] == "approved"
    kinds = [e.kind for e in store.audit_events(task.run_id)]
    assert kinds.count("run.succeeded") == 1
    assert store.verify_audit(task.run_id).ok
    assert not engine._again and not engine._advancer
