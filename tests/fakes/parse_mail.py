#!/usr/bin/python3
"""Parses a raw email with Python's standard `email` package and prints, as JSON,
what a mail client would show: decoded headers, the decoded text body (line breaks
as \\n), every header name, and any defects the parser found."""
import email
import email.policy
import json
import sys

with open(sys.argv[1], "rb") as f:
    msg = email.message_from_bytes(f.read(), policy=email.policy.default)

body = msg.get_body(preferencelist=("plain",))
out = {
    "header_names": [k for k in msg.keys()],
    "subject": str(msg["subject"]),
    "from": str(msg["from"]),
    "to": [str(v) for v in msg.get_all("to", [])],
    "to_addresses": [a.addr_spec for v in msg.get_all("to", []) for a in v.addresses],
    "to_names": [a.display_name for v in msg.get_all("to", []) for a in v.addresses],
    "bcc": [str(v) for v in msg.get_all("bcc", [])],
    "reply_to": str(msg["reply-to"]) if msg["reply-to"] else None,
    "message_id": str(msg["message-id"]),
    "date": str(msg["date"]),
    "auto_submitted": str(msg["auto-submitted"]),
    "content_type": msg.get_content_type(),
    "charset": msg.get_content_charset(),
    "body": body.get_content().replace("\r\n", "\n") if body is not None else None,
    "defects": [type(d).__name__ for d in msg.defects],
}
print(json.dumps(out, ensure_ascii=False))
