"""`send_mail`: write one RFC 5322 message into ./outbox for the mail relay (never sends).

    send_mail --to ada@example.com --subject 'Your report' --attach report.pdf --body - < body.txt

Prints a JSON receipt: message_id, to, bytes, path. Exit status 2 for a bad address or an
empty subject or body.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mimetypes
import os
import sys
from email.message import EmailMessage
from email.policy import SMTP


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="send_mail")
    p.add_argument("--to", required=True)
    p.add_argument("--subject", required=True)
    p.add_argument("--body", default="-")
    p.add_argument("--attach", default="")
    p.add_argument("--from", dest="sender", default="reports@example.com")
    args = p.parse_args(argv)
    body = sys.stdin.read() if args.body == "-" else args.body
    to = args.to.strip()
    if "@" not in to or any(c in to for c in " ,;\n"):
        print(f"send_mail: `{to}` is not one email address", file=sys.stderr)
        return 2
    if not args.subject.strip():
        print("send_mail: the subject is empty", file=sys.stderr)
        return 2
    if not body.strip():
        print("send_mail: the body is empty", file=sys.stderr)
        return 2
    msg = EmailMessage()
    msg["From"] = args.sender
    msg["To"] = to
    msg["Subject"] = args.subject.strip()
    msg.set_content(body)
    digest = hashlib.sha256(f"{to}\0{args.subject}\0{body}".encode())
    if args.attach:
        with open(args.attach, "rb") as f:
            data = f.read()
        digest.update(data)
        ctype = mimetypes.guess_type(args.attach)[0] or "application/octet-stream"
        main_type, sub_type = ctype.split("/", 1)
        msg.add_attachment(data, maintype=main_type, subtype=sub_type,
                           filename=os.path.basename(args.attach))
    message_id = digest.hexdigest()[:24]
    msg["Message-ID"] = f"<{message_id}@flowc.outbox>"
    raw = msg.as_bytes(policy=SMTP)
    os.makedirs("outbox", exist_ok=True)
    path = f"outbox/{message_id}.eml"
    with open(path, "wb") as f:
        f.write(raw)
    print(json.dumps({"message_id": message_id, "to": to, "bytes": len(raw), "path": path}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
