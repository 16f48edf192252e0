"""Signed review links and the notifications of human tasks (`flowc serve`).

**Review links.** `LinkSigner.make(task, person, ttl)` signs (itsdangerous, HMAC, a salt
of its own) a URL-safe token that carries the task id, the person, a random once-id and an
expiry. `check` accepts only a token of at most `MAX_TOKEN_CHARS` characters, signed with the
same secret *and* salt, well-formed and not expired by the signer's injected clock; anything
else raises `LinkRefused` with a one-line reason. `consume` makes the link single-use: of any
number of requests (threads or processes on one store) exactly one wins the store's
`use_once` compare-and-set; the others are refused.

**Notifications.** `Notifier.run_once()` looks at every pending task (gates and questions) and
notifies, per *step*: step 0 is the task opening (its original assignees), step i (1..
`task.escalated`) is escalation step i firing (that step's `to`). A step notifies only people
who were not notified of the task at an earlier step, so an escalation reaches the new
deciders only. A `user` assignee is that person; a `role` is every person holding it. Each
person with an e-mail address gets ONE e-mail with a link signed for them; the webhook (if
configured) gets ONE Slack-compatible post per task step, with the review URL but no signed
link (a channel is not a person).

Guarantees:

* **Exactly once.** Every e-mail and post is claimed in the store (`claim_notification`, a
  compare-and-set) before it is sent; only the claimant sends. Any number of notifiers
  (threads, processes, servers) over one store send each one once.
* **At most once per attempt; failures are visible.** A send's outcome is recorded with
  `notification_done(key, error)`. A notifier that dies between claim and send leaves the
  claim "sending": that attempt is never resent (no duplicate), it shows in the store.
* **Retry policy.** A *failed* attempt (recorded error) is retried by a later pass, once at
  least `retry_after` seconds (by the notifier's clock against the store's `sent_at`: both
  are `time.time` in production) have passed since it failed, up to `max_attempts` attempts
  in all (default 3); then it stays failed. Each retry is its own claim (key
  `TASK:STEP:email#N:PERSON`, `TASK:STEP:webhook#N`), so retries are exactly-once as well.
  Within one pass, a failure of the mail server itself (cannot connect, disconnected,
  refused the sender or the log-in) stops e-mail for the rest of that pass, and any webhook
  failure stops posts for that pass: the remaining ones are not claimed, so they cost no
  attempt and go out on a later pass. A refused recipient or message fails that e-mail only.
  `run_once` never raises for a failed send.
* **Hostile text.** Titles, names, node ids and flow names come from flows: control and
  line-separator characters are removed, whitespace collapsed, lengths bounded; a subject is
  one line (no header injection), an address with anything unusual is not written to.
  Webhook text escapes Slack's `& < >` so a title cannot mention `@channel` or forge links.
"""

from __future__ import annotations

import re
import secrets
import smtplib
import socket
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import quote

import httpx
from itsdangerous import BadData, BadPayload, BadSignature, URLSafeSerializer

__all__ = [
    "MAX_TOKEN_CHARS", "Link", "LinkRefused", "LinkSigner", "Notifier", "Sent", "SmtpConfig",
    "one_line",
]

MAX_TOKEN_CHARS = 2048        # longer tokens are refused before any parsing
_SALT = "flowc.review-link.v1"
_PURPOSE = "review-link"      # the `use_once` purpose of a consumed link
_MAX_FIELD = 300              # task id / person name a token may carry, in characters


# ---------------------------------------------------------------- hostile text

def one_line(text: Any, limit: int = 200) -> str:
    """`text` as one printable line of at most `limit` characters: control, format and
    line/paragraph separator characters dropped, whitespace runs collapsed to one space,
    and an ellipsis where it was cut."""
    s = "" if text is None else str(text)
    s = s[: limit * 4]  # bound the work before cleaning
    out = []
    for ch in s:
        cat = unicodedata.category(ch)
        if ch in "\t\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029":
            out.append(" ")
        elif cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            continue
        else:
            out.append(ch)
    s = re.sub(r"\s+", " ", "".join(out)).strip()
    if len(s) > limit:
        s = s[: max(limit - 1, 0)].rstrip() + "…"
    return s


_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


def _address(email: Any) -> str | None:
    """A plain `local@domain` address (ASCII, no display name, no spaces), else None."""
    if not isinstance(email, str) or len(email) > 254 or not _ADDRESS.fullmatch(email):
        return None
    return email


def _slack(text: str) -> str:
    """Escape Slack's control characters (mentions, links) in text taken from a flow."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _when(epoch: Any) -> str | None:
    try:
        return datetime.fromtimestamp(float(epoch), timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return None


# ---------------------------------------------------------------- signed links

class LinkRefused(Exception):
    """A review link that may not be used; `reason` is one line for the person."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Link:
    """What a checked review link grants: `person` may review `task_id`, once, until
    `expires_at` (epoch seconds)."""

    task_id: str
    person: str
    once_id: str
    expires_at: float


class LinkSigner:
    """Makes and checks personal, single-use, expiring review links."""

    def __init__(self, secret: str | bytes, *, clock: Callable[[], float] = time.time):
        if not secret:
            raise ValueError("a link-signing secret must not be empty")
        self._serializer = URLSafeSerializer(secret, salt=_SALT)
        self.clock = clock

    def make(self, task_id: str, person: str, ttl: float) -> str:
        """A token letting `person` review `task_id` once within `ttl` seconds."""
        if not isinstance(task_id, str) or not task_id or len(task_id) > _MAX_FIELD:
            raise ValueError("a review link needs a task id of 1 to 300 characters")
        if not isinstance(person, str) or not person or len(person) > _MAX_FIELD:
            raise ValueError("a review link needs a person's name of 1 to 300 characters")
        if not ttl > 0:
            raise ValueError("a review link's lifetime must be positive")
        expires = float(self.clock()) + float(ttl)
        token = self._serializer.dumps([1, task_id, person, secrets.token_urlsafe(16), expires])
        if len(token) > MAX_TOKEN_CHARS:
            raise ValueError("this review link would be too long (a very long person name?)")
        return token

    def check(self, token: Any) -> Link:
        """The link a token grants; LinkRefused if it is forged, malformed or expired."""
        if not isinstance(token, str) or not token:
            raise LinkRefused("this link carries no token")
        if len(token) > MAX_TOKEN_CHARS:
            raise LinkRefused("this link's token is too long")
        try:
            data = self._serializer.loads(token)
        except BadPayload:
            raise LinkRefused("this link's token is malformed") from None
        except BadSignature:
            raise LinkRefused("this link's signature is not valid (forged, altered or "
                              "made by another server)") from None
        except (BadData, ValueError, UnicodeError):
            raise LinkRefused("this link's token is malformed") from None
        if not (isinstance(data, list) and len(data) == 5 and data[0] == 1
                and all(isinstance(x, str) and x for x in data[1:4])
                and isinstance(data[4], int | float) and not isinstance(data[4], bool)):
            raise LinkRefused("this link's token is malformed")
        link = Link(data[1], data[2], data[3], float(data[4]))
        self._not_expired(link)
        return link

    def consume(self, store: Any, link: Link) -> None:
        """Use the link up: of all callers (any process on this store) one succeeds; the
        others get LinkRefused."""
        self._not_expired(link)
        if not store.use_once(link.once_id, _PURPOSE):
            raise LinkRefused("this link was already used")

    def _not_expired(self, link: Link) -> None:
        if not float(self.clock()) < link.expires_at:
            raise LinkRefused("this link has expired")


# ---------------------------------------------------------------- notifications

@dataclass(frozen=True)
class SmtpConfig:
    """Where e-mail goes. `helo`: the name this host gives (None: its host name)."""

    host: str
    port: int = 25
    sender: str = "flowc@localhost"
    timeout: float = 10.0
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    helo: str | None = None


@dataclass(frozen=True)
class Sent:
    """One attempt made by a pass: `error` None means it went out."""

    key: str
    task_id: str
    step: int
    channel: str            # "email" | "webhook"
    recipient: str          # the person's name, or the webhook URL
    attempt: int            # 1 for the first try
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _Down(Exception):
    """The channel itself failed: stop using it for the rest of this pass."""


# failures of one message or recipient; any other SMTP/socket error means the server is down
_ONE_MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)


def _key(task_id: str, step: int, channel: str, attempt: int, person: str | None) -> str:
    tag = channel if attempt == 1 else f"{channel}#{attempt}"
    return f"{task_id}:{step}:{tag}" + ("" if person is None else f":{person}")


def _error(exc: BaseException) -> str:
    return one_line(f"{type(exc).__name__}: {exc}", 300)


class Notifier:
    """Sends the e-mails and webhook posts of pending tasks; call `run_once` each pass."""

    def __init__(self, store: Any, signer: LinkSigner, *, base_url: str,
                 smtp: SmtpConfig | None, webhook_url: str | None,
                 link_ttl: float = 7 * 86400.0, clock: Callable[[], float] = time.time,
                 max_attempts: int = 3, retry_after: float = 300.0,
                 webhook_timeout: float = 5.0):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.store = store
        self.signer = signer
        self.base_url = base_url.rstrip("/")
        self.smtp = smtp
        self.webhook_url = webhook_url
        self.link_ttl = link_ttl
        self.clock = clock
        self.max_attempts = max_attempts
        self.retry_after = retry_after
        self.webhook_timeout = webhook_timeout

    # -- the pass
    def run_once(self) -> list[Sent]:
        """Notify what is due; return the attempts this pass made (sent or failed)."""
        if self.smtp is None and not self.webhook_url:
            return []
        tasks = self.store.list_tasks(status="pending", limit=None)
        if not tasks:
            return []
        rows = {r["key"]: r for r in self.store.notifications()}
        emailed: dict[tuple[str, str], int] = {}  # (task, person) -> earliest step with a row
        for r in rows.values():
            parts = r["key"].split(":", 3)
            if len(parts) == 4 and parts[2].split("#")[0] == "email" and parts[1].isdigit():
                k = (parts[0], parts[3])
                emailed[k] = min(emailed.get(k, 1 << 30), int(parts[1]))
        pass_ = _Pass(self, rows, emailed)
        for task in tasks:
            for step in range(0, task.escalated + 1):
                pass_.task_step(task, step)
        return pass_.sent

    # -- what a step is
    @staticmethod
    def step_assignees(task: Any, step: int) -> list[dict[str, str]]:
        """Step 0: the task's original assignees (its assignees less those escalation steps
        added); step i: escalation step i's `to`."""
        if step == 0:
            added = [a for s in task.fired_escalations for a in s.get("to", ())]
            return [a for a in task.assignees if a not in added]
        return list(task.escalations[step - 1].get("to", ()))

    def review_url(self, task_id: str) -> str:
        return f"{self.base_url}/review/{quote(task_id, safe='')}"

    # -- one attempt: decides whether (and as which attempt) to claim
    def _attempt(self, rows: dict[str, dict], task_id: str, step: int, channel: str,
                 person: str | None) -> tuple[str, int] | None:
        """(key, attempt number) to claim now, or None: sent, being sent, given up, or a
        failure too recent to retry."""
        last = None
        for n in range(1, self.max_attempts + 1):
            row = rows.get(_key(task_id, step, channel, n, person))
            if row is None:
                break
            last = (n, row)
        if last is None:
            return _key(task_id, step, channel, 1, person), 1
        n, row = last
        if row["status"] != "failed" or n >= self.max_attempts:
            return None
        failed_at = row.get("sent_at") or row.get("created_at") or 0.0
        if float(self.clock()) - float(failed_at) < self.retry_after:
            return None
        return _key(task_id, step, channel, n + 1, person), n + 1


class _Pass:
    """The state of one `run_once`: caches, channels found down, attempts made."""

    def __init__(self, notifier: Notifier, rows: dict[str, dict],
                 emailed: dict[tuple[str, str], int]):
        self.n = notifier
        self.store = notifier.store
        self.rows = rows
        self.emailed = emailed
        self.sent: list[Sent] = []
        self.email_down = notifier.smtp is None
        self.webhook_down = not notifier.webhook_url
        self._roles: dict[str, list[Any]] = {}
        self._users: dict[str, Any] = {}
        self._flows: dict[str, str] = {}
        self._covered: dict[str, set[str]] = {}  # task -> people resolved at earlier steps

    # -- resolution
    def people(self, assignees: Iterable[dict[str, str]]) -> list[Any]:
        found: dict[str, Any] = {}
        for a in assignees:
            kind, name = a.get("kind"), a.get("name")
            if not isinstance(name, str):
                continue
            if kind == "user":
                if name not in self._users:
                    self._users[name] = self.store.get_person(name)
                matches = [self._users[name]] if self._users[name] else []
            elif kind == "role":
                if name not in self._roles:
                    self._roles[name] = self.store.people_with_roles([name])
                matches = self._roles[name]
            else:
                continue
            for p in matches:
                found.setdefault(p.name, p)
        return [found[k] for k in sorted(found)]

    def flow(self, run_id: str) -> str:
        if run_id not in self._flows:
            run = self.store.get_run(run_id)
            self._flows[run_id] = one_line(run.flow_name if run else "", 80)
        return self._flows[run_id]

    # -- one task step
    def task_step(self, task: Any, step: int) -> None:
        assignees = Notifier.step_assignees(task, step)
        people = self.people(assignees)
        covered = self._covered.setdefault(task.id, set())
        new = [p for p in people if p.name not in covered
               and self.emailed.get((task.id, p.name), step) >= step]
        covered.update(p.name for p in people)
        for person in new:
            if self.email_down:
                break
            self.email(task, step, person, assignees)
        if not self.webhook_down:
            self.webhook(task, step, assignees)

    def _claim(self, task: Any, step: int, channel: str, person: str | None,
               recipient: str) -> tuple[str, int] | None:
        due = self.n._attempt(self.rows, task.id, step, channel, person)
        if due is None or not self.store.claim_notification(due[0], task.id, channel,
                                                           recipient):
            return None
        return due

    def _done(self, task: Any, step: int, channel: str, recipient: str, due: tuple[str, int],
              error: str | None) -> None:
        self.store.notification_done(due[0], error)
        self.sent.append(Sent(due[0], task.id, step, channel, recipient, due[1], error))

    # -- e-mail
    def email(self, task: Any, step: int, person: Any, assignees: list[dict]) -> None:
        address = _address(person.email)
        if address is None:
            return  # no (usable) address: nothing to send, nothing claimed
        due = self._claim(task, step, "email", person.name, person.name)
        if due is None:
            return
        error = None
        try:
            token = self.n.signer.make(task.id, person.name, self.n.link_ttl)
            msg = self.message(task, step, person.name, address, token, assignees)
            self.deliver(msg)
        except _Down as e:
            error, self.email_down = str(e), True
        except Exception as e:  # recorded; the pass goes on
            error = _error(e)
        self._done(task, step, "email", person.name, due, error)

    def message(self, task: Any, step: int, person: str, address: str, token: str,
                assignees: list[dict]) -> EmailMessage:
        smtp = self.n.smtp
        assert smtp is not None
        title = one_line(task.title, 150) or f"a {one_line(task.kind, 10)} task"
        kind = "Decision needed" if task.kind == "gate" else "Answer needed"
        subject = one_line(f"{'Escalated: ' if step else ''}{kind}: {title}", 160)
        url = f"{self.n.review_url(task.id)}?link={token}"
        expires = _when(self.n.signer.clock() + self.n.link_ttl)
        lines = [
            f"Hello {one_line(person, 80)},",
            "",
            ("flowc asks you for a decision:" if task.kind == "gate"
             else "flowc asks you a question:"),
            f"  {title}",
            "",
            f"Flow: {self.flow(task.run_id) or '-'} (run {one_line(task.run_id, 40)}, step "
            f"{one_line(task.node_id, 80)})",
            f"For: {_who(assignees)}",
        ]
        if step:
            lines.append(f"Escalated (step {step}): nobody decided in time, so you were added.")
        deadline = _when(task.deadline) if task.deadline is not None else None
        if deadline:
            lines.append(f"Deadline: {deadline}")
        lines += [
            "",
            "Review it here:",
            url,
            "",
            f"This link is yours: it signs you in as {one_line(person, 80)}, works once"
            + (f" and until {expires}." if expires else "."),
            "Do not forward it. Reviewers who have a password may also sign in at",
            self.n.review_url(task.id),
        ]
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = smtp.sender
        msg["To"] = address
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid(domain="flowc")
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content("\n".join(lines) + "\n")
        return msg

    def deliver(self, msg: EmailMessage) -> None:
        smtp = self.n.smtp
        assert smtp is not None
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout,
                              local_hostname=smtp.helo or socket.gethostname()) as conn:
                if smtp.starttls:
                    conn.starttls()
                if smtp.username:
                    conn.login(smtp.username, smtp.password or "")
                conn.send_message(msg)
        except _ONE_MESSAGE_ERRORS:
            raise
        except (OSError, smtplib.SMTPException) as e:
            raise _Down(f"mail server {smtp.host}:{smtp.port} failed: {_error(e)}") from e

    # -- webhook
    def webhook(self, task: Any, step: int, assignees: list[dict]) -> None:
        url = self.n.webhook_url
        assert url
        due = self._claim(task, step, "webhook", None, url)
        if due is None:
            return
        error = None
        try:
            r = httpx.post(url, json=self.post_body(task, step, assignees),
                           timeout=self.n.webhook_timeout, follow_redirects=False)
            if r.status_code >= 300:
                error = f"HTTP {r.status_code}"
        except Exception as e:  # recorded; the pass goes on
            error = _error(e)
        if error:
            self.webhook_down = True
        self._done(task, step, "webhook", url, due, error)

    def post_body(self, task: Any, step: int, assignees: list[dict]) -> dict[str, Any]:
        title = one_line(task.title, 150) or f"a {one_line(task.kind, 10)} task"
        kind = "decision" if task.kind == "gate" else "question"
        url = self.n.review_url(task.id)
        what = (f"escalated (step {step}) to {_who(assignees)}" if step
                else f"for {_who(assignees)}")
        flow = self.flow(task.run_id)
        text = (f"flowc: a {kind} is waiting, {_slack(what)}: {_slack(title)}"
                f"{f' (flow {_slack(flow)})' if flow else ''}. Review: {url}")
        return {
            "text": text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": (
                    f"*{'Escalated ' if step else ''}{kind}:* {_slack(title)}\n"
                    f"{_slack(what)}{f' · flow {_slack(flow)}' if flow else ''}")}},
                {"type": "section", "text": {"type": "mrkdwn",
                                             "text": f"<{url}|Review task {task.id}>"}},
            ],
            "event": "task.escalated" if step else "task.opened",
            "task": task.id, "step": step, "url": url,
        }


def _who(assignees: Iterable[dict[str, str]]) -> str:
    names = [f"{one_line(a.get('kind'), 8)} {one_line(a.get('name'), 60)}"
             for a in list(assignees)[:10]]
    return ", ".join(names) or "anyone"
