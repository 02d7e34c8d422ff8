#!/usr/bin/env python3
"""Writes testdata/mbox/sample.mbox: a small, deterministic mboxrd archive
with the mix of mail a converter meets (every message written here, no
external corpus). Run from anywhere:  python3 scripts/gen_sample_mbox.py

The mix: plain text mail, attachments (base64 PDF-like and PNG-like bytes),
RFC 2047 encoded headers (UTF-8 and ISO-8859-1), body lines quoted as
>From and >>From (mboxrd), a CRLF message, a broken message (no closing
boundary, bad base64), deleted messages (X-Status: D and X-Mozilla-Status:
0008), Gmail labels and thread ids, an HTML-only message, a reply thread, a
message without a header and a hostile attachment name.
"""
import base64
import hashlib
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "mbox", "sample.mbox")
rng = random.Random(4)  # fixed seed: the file is byte-for-byte reproducible

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
PEOPLE = [("Alice Martin", "alice@example.org"), ("Bob Stone", "bob@example.net"),
          ("Carol Diaz", "carol@example.com"), ("Dan Wu", "dan@example.org")]


def date(i):
    day = 1 + i % 28
    wd = WEEKDAYS[(day + 2) % 7]
    return f"{wd}, {day:02d} {MONTHS[i % 12]} 2023 {8 + i % 10:02d}:{(7 * i) % 60:02d}:{(13 * i) % 60:02d} +0100", \
        f"{wd} {MONTHS[i % 12]} {day:2d} {7 + i % 10:02d}:{(7 * i) % 60:02d}:{(13 * i) % 60:02d} 2023"


def b64(data):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def pdf_bytes(n):
    body = bytes(rng.randrange(256) for _ in range(n))
    return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\nstream\n" + body + b"\nendstream\n%%EOF\n"


def png_bytes(n):
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(rng.randrange(256) for _ in range(n)) + b"IEND\xaeB`\x82"


def words(n):
    vocab = ("the report meeting budget draft review please find attached notes quarter team "
             "schedule update question thanks regards project deadline agenda numbers").split()
    out, line = [], []
    for _ in range(n):
        line.append(rng.choice(vocab))
        if len(line) == 12:
            out.append(" ".join(line))
            line = []
    out.append(" ".join(line))
    return "\n".join(out)


messages = []  # (envelope, message text with \n line ends, crlf?)


def add(i, headers, body, envelope_sender=None, crlf=False):
    hdr_date, env_date = date(i)
    frm = PEOPLE[i % len(PEOPLE)]
    to = PEOPLE[(i + 1) % len(PEOPLE)]
    base = [f"From: {frm[0]} <{frm[1]}>", f"To: {to[0]} <{to[1]}>", f"Date: {hdr_date}",
            f"Message-ID: <msg{i:03d}@example.org>"]
    text = "\n".join(base + headers) + "\n\n" + body
    if not text.endswith("\n"):
        text += "\n"
    messages.append((f"{envelope_sender or frm[1]} {env_date}", text, crlf))


i = 0
# Plain text mail, some with Status flags.
for k in range(8):
    status = [[], ["Status: RO"], ["Status: O"], ["Status: RO", "X-Status: AF"]][k % 4]
    add(i, [f"Subject: Weekly notes {k + 1}", "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=us-ascii"] + status, words(40 + 30 * k)); i += 1

# A thread: replies with In-Reply-To/References.
add(i, ["Subject: Re: Weekly notes 1", "In-Reply-To: <msg000@example.org>",
        "References: <msg000@example.org>", "Status: RO"], "Agreed.\n\n> " + words(10)); i += 1
add(i, ["Subject: Re: Re: Weekly notes 1", "In-Reply-To: <msg008@example.org>",
        "References: <msg000@example.org>\n <msg008@example.org>"], "Thanks, see you then.\n"); i += 1

# RFC 2047 headers, UTF-8 and ISO-8859-1.
add(i, ["Subject: =?UTF-8?B?" + base64.b64encode("Résumé für Zoë ✓".encode()).decode() + "?=",
        "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"],
    "Grüße aus Köln — ça va?\n"); i += 1
add(i, ["Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me_et_g=E2teau?=", "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: quoted-printable"],
    "Le caf=E9 est pr=EAt.\n"); i += 1

# mboxrd quoting: body lines that start with From / >From.
add(i, ["Subject: quoting test"], "Hello,\nFrom the top of the page:\n>From a quoted line\n>>From deeper\nend\n"); i += 1

# Attachments: PDF-ish and PNG-ish; the first two carry the same chart.png
# (one file after content dedup).
shared_png = png_bytes(1200)
for k in range(3):
    boundary = f"=_boundary_{k}_{hashlib.sha1(bytes([k])).hexdigest()[:8]}"
    pdf = pdf_bytes(3000 + 1500 * k)
    png = shared_png
    body = (f"This is a multi-part message in MIME format.\n\n--{boundary}\n"
            "Content-Type: text/plain; charset=utf-8\n\nPlease find the files attached.\n\n"
            f"--{boundary}\nContent-Type: application/pdf; name=\"report-{k}.pdf\"\n"
            f"Content-Disposition: attachment; filename=\"report-{k}.pdf\"\n"
            f"Content-Transfer-Encoding: base64\n\n{b64(pdf)}\n\n"
            f"--{boundary}\nContent-Type: image/png; name=\"chart.png\"\n"
            "Content-Disposition: attachment; filename=\"chart.png\"\nContent-Transfer-Encoding: base64\n\n"
            f"{b64(png) if k < 2 else b64(png_bytes(800))}\n--{boundary}--\n")
    add(i, [f"Subject: Report {k}", "MIME-Version: 1.0",
            f"Content-Type: multipart/mixed; boundary=\"{boundary}\""], body); i += 1

# Gmail export: labels and thread id.
add(i, ["Subject: Gmail labelled", "X-GM-THRID: 1780123456789012345",
        "X-Gmail-Labels: Inbox,Important,\"Category Updates\",Opened"], "Labelled mail.\n",
    envelope_sender="1780123456789012345@xxx"); i += 1

# HTML-only mail.
add(i, ["Subject: Newsletter", "MIME-Version: 1.0", "Content-Type: text/html; charset=utf-8"],
    "<html><head><style>p {color: red}</style></head><body><h1>News</h1><p>Hello &amp; welcome"
    "&nbsp;back!</p><ul><li>one</li><li>two</li></ul></body></html>\n"); i += 1

# Deleted messages: X-Status D, and Thunderbird's 0008 bit.
add(i, ["Subject: deleted (mutt)", "Status: RO", "X-Status: D"], "This one was deleted.\n"); i += 1
add(i, ["Subject: deleted (thunderbird)", "X-Mozilla-Status: 0008", "X-Mozilla-Status2: 00000000"],
    "Deleted in Thunderbird.\n"); i += 1

# Broken: missing closing boundary and bad base64.
add(i, ["Subject: broken", "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=\"XX\""],
    "--XX\nContent-Type: text/plain\n\nbody\n--XX\nContent-Type: application/octet-stream; name=\"bad.bin\"\n"
    "Content-Transfer-Encoding: base64\n\nAAAA!!!!@@@@====QUJD\nnot base64 at all\n"); i += 1

# Hostile attachment name.
add(i, ["Subject: hostile name", "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=\"HH\""],
    "--HH\nContent-Type: text/plain\n\nsee attached\n--HH\nContent-Type: text/plain\n"
    "Content-Disposition: attachment; filename=\"../../etc/evil\\r.sh\"\n\necho pwned\n--HH--\n"); i += 1

# A CRLF message (line ends kept as CRLF inside the archive).
add(i, ["Subject: CRLF message", "Content-Type: text/plain"], "Line one\nLine two\n", crlf=True); i += 1

# No header at all: written as is and reported.
messages.append((f"nobody@example.org {date(i)[1]}", "this line is not a header field\nnor this\n", False)); i += 1

# A few more plain messages to reach a realistic count.
for k in range(4):
    add(i, [f"Subject: Follow-up {k}", "Status: RO"], words(20 + 10 * k)); i += 1


def quote(text):
    out = []
    for line in text.split("\n"):
        if line.lstrip(">").startswith("From "):
            line = ">" + line
        out.append(line)
    return "\n".join(out)


with open(OUT, "wb") as f:
    for env, text, crlf in messages:
        body = quote(text)
        if crlf:
            body = body.replace("\n", "\r\n")
        f.write(f"From {env}\n".encode())
        f.write(body.encode("utf-8"))
        f.write(b"\n")
print(f"{OUT}: {len(messages)} messages, {os.path.getsize(OUT)} bytes")
