#!/usr/bin/python3
"""A real SMTP server for tests (Debian's python3-aiosmtpd), on 127.0.0.1.

Listens on a port the OS chooses and writes it to --port-file once ready. Every
accepted message is saved in --maildir as N.json (envelope: mail_from, rcpt_tos,
tls, authenticated) and then N.eml (the raw data as received), so a reader that
waits for N.eml sees both complete.

  --user U --password P     require AUTH (PLAIN/LOGIN) with these credentials
  --cert C --key K          offer STARTTLS with this certificate
  --implicit-tls            with --cert: TLS from the first byte (smtps) instead
  --require-tls             refuse MAIL before STARTTLS
  --reply CODE:ADDRESS      answer RCPT TO:<ADDRESS> with CODE (e.g. 451, 550)

Every AUTH attempt (whatever its outcome) appends a line to <maildir>/auth-attempts,
so a test can tell that a client never sent credentials.
"""
import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

REPLY_TEXT = {"4": "4.3.0 Temporary failure, try again later", "5": "5.1.1 No such user here"}


class Sink:
    def __init__(self, maildir, replies):
        self.maildir = maildir
        self.replies = replies
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        code = self.replies.get(address.lower())
        if code:
            return f"{code} {REPLY_TEXT[code[0]]}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.maildir, f"{self.count:04d}")
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
        }
        with open(base + ".json", "w") as f:
            json.dump(meta, f)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 2.0.0 Message accepted"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--require-tls", action="store_true")
    ap.add_argument("--implicit-tls", action="store_true")
    ap.add_argument("--reply", action="append", default=[])
    a = ap.parse_args()

    os.makedirs(a.maildir, exist_ok=True)
    replies = {}
    for r in a.reply:
        code, _, address = r.partition(":")
        replies[address.lower()] = code
    tls = None
    if a.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.cert, a.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        with open(os.path.join(a.maildir, "auth-attempts"), "a") as f:
            f.write(f"{mechanism} tls={session.ssl is not None}\n")
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == a.user.encode() and auth_data.password == a.password.encode())
        return AuthResult(success=ok, handled=False)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Sink(a.maildir, replies)

    def factory():
        return SMTP(handler, hostname="sink.test", tls_context=None if a.implicit_tls else tls,
                    require_starttls=a.require_tls,
                    auth_required=bool(a.user), auth_require_tls=False,
                    authenticator=authenticator if a.user else None, loop=loop)

    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0, ssl=tls if a.implicit_tls else None))
    port = server.sockets[0].getsockname()[1]
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(a.port_file + ".tmp", a.port_file)
    print(f"smtp_sink: listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
