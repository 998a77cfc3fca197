#!/usr/bin/env python3
"""A citizen's mail client, played by Python's standard library (smtplib + email), against the
email channel (services/intake/src/email), with the platform's relay played by a small SMTP
sink this script runs (socketserver), where the auto-reply must arrive:

  1. a mail in GB18030 (subject as an RFC 2047 encoded word, body base64, a character outside
     GBK, a PDF attachment named in GB18030 by RFC 2231) is taken with 250 and a ticket number,
  2. the ticket's description, read back through Open311 (GET requests/{id}.json), is the
     decoded subject and body,
  3. the auto-reply reaches the sink: from the null reverse-path, `Auto-Submitted:
     auto-replied`, the ticket number in its subject (decoded with the email package),
  4. an unknown recipient is refused at RCPT with 550 (smtplib.SMTPRecipientsRefused).

Environment: SMTP_HOST (127.0.0.1), SMTP_PORT (2525), SINK_PORT (the port the platform's
`email.relay_port` names: this script listens there), OPEN311_BASE
(http://127.0.0.1:8080/open311/v2), WAIT_SECS (60).
"""

import email
import email.policy
import email.utils
import json
import os
import random
import re
import smtplib
import socketserver
import sys
import threading
import time
import urllib.request
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

SMTP_HOST = os.environ.get("SMTP_HOST", "127.0.0.1")
SMTP_PORT = int(os.environ.get("SMTP_PORT", "2525"))
SINK_PORT = int(os.environ.get("SINK_PORT", "2526"))
OPEN311_BASE = os.environ.get("OPEN311_BASE", "http://127.0.0.1:8080/open311/v2")
WAIT_SECS = float(os.environ.get("WAIT_SECS", "60"))
CITIZEN = f"peer{random.randint(10**6, 10**7)}@example.com"
SUBJECT = "𠮷野家门口施工噪音"
BODY = "𠮷野家门口夜间施工，噪音扰民。\n.一行以点开头"

received = []
received_lock = threading.Lock()


def fail(message):
    print(f"email peer: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


class SinkHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for the platform's relay client to hand over a message."""

    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self.reply("220 peer-sink ESMTP")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = text.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-peer-sink\r\n250 8BITMIME\r\n")
            elif verb in ("HELO", "NOOP", "RSET"):
                self.reply("250 OK")
            elif text.upper().startswith("MAIL FROM:"):
                sender = text[10:].strip().split(" ")[0]
                self.reply("250 OK")
            elif text.upper().startswith("RCPT TO:"):
                rcpts.append(text[8:].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = bytearray()
                while True:
                    chunk = self.rfile.readline()
                    if not chunk or chunk == b".\r\n":
                        break
                    data += chunk[1:] if chunk.startswith(b".") else chunk
                with received_lock:
                    received.append((sender, list(rcpts), bytes(data)))
                sender, rcpts = None, []
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("500 what")


def start_sink():
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", SINK_PORT), SinkHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def gb18030_mail():
    msg = MIMEMultipart()
    msg["From"] = Header("市民", "gb18030").encode() + f" <{CITIZEN}>"
    msg["To"] = "12345@hotline.local"
    msg["Subject"] = Header(SUBJECT, "gb18030")
    msg["Message-ID"] = email.utils.make_msgid(domain="example.com")
    msg.attach(MIMEText(BODY, "plain", "gb18030"))
    pdf = MIMEApplication(b"%PDF-1.4\n% peer\n", "pdf")
    pdf.add_header("Content-Disposition", "attachment", filename=("gb18030", "", "现场照片说明.pdf"))
    msg.attach(pdf)
    return msg


def main():
    sink = start_sink()
    msg = gb18030_mail()
    raw = msg.as_bytes()
    if b"gb18030" not in raw.lower() or SUBJECT.encode() in raw:
        fail("the mail is not GB18030-encoded as meant")
    with smtplib.SMTP(SMTP_HOST, SMTP_PORT, timeout=60) as smtp:
        code, ehlo = smtp.ehlo("peer.example.com")
        if code != 250 or not smtp.has_extn("size") or not smtp.has_extn("8bitmime"):
            fail(f"EHLO: {code} {ehlo!r}")
        smtp.mail(CITIZEN)
        code, _ = smtp.rcpt("12345@hotline.local")
        if code != 250:
            fail(f"RCPT answered {code}")
        code, answer = smtp.data(raw)
        answer = answer.decode()
        if code != 250:
            fail(f"DATA answered {code} {answer}")
        found = re.search(r"\b(\d{16})\b", answer)
        if not found:
            fail(f"no ticket number in {answer!r}")
        ticket_no = found.group(1)
        print(f"email peer: mail taken as ticket {ticket_no}")

        # An unknown recipient is refused at RCPT.
        try:
            smtp.sendmail(CITIZEN, ["nobody@hotline.local"], b"Subject: x\r\n\r\nx\r\n")
            fail("mail to an unknown mailbox was taken")
        except smtplib.SMTPRecipientsRefused as refused:
            code = refused.recipients["nobody@hotline.local"][0]
            if code != 550:
                fail(f"unknown recipient answered {code}, not 550")

    with urllib.request.urlopen(f"{OPEN311_BASE}/requests/{ticket_no}.json", timeout=30) as r:
        requests_json = json.load(r)
    description = requests_json[0]["description"]
    if description != f"{SUBJECT}\n{BODY}":
        fail(f"the ticket's description is {description!r}")

    deadline = time.time() + WAIT_SECS
    reply = None
    while time.time() < deadline and reply is None:
        with received_lock:
            for sender, rcpts, data in received:
                if CITIZEN in rcpts:
                    reply = (sender, data)
        time.sleep(0.2)
    sink.shutdown()
    if reply is None:
        fail(f"no auto-reply reached the relay within {WAIT_SECS:.0f} s")
    sender, data = reply
    if sender != "<>":
        fail(f"the auto-reply's reverse-path is {sender!r}, not <>")
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    if parsed["Auto-Submitted"] != "auto-replied":
        fail(f"Auto-Submitted is {parsed['Auto-Submitted']!r}")
    if ticket_no not in str(parsed["Subject"]):
        fail(f"the auto-reply's subject {parsed['Subject']!r} lacks {ticket_no}")
    body = parsed.get_body(preferencelist=("plain",)).get_content()
    if ticket_no not in body:
        fail("the auto-reply's text lacks the number")
    print("email peer: ok (smtplib GB18030 mail with an RFC 2231 attachment name; auto-reply from <>)")


if __name__ == "__main__":
    main()
