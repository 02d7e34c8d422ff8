#!/usr/bin/env python3
"""Deterministic mbox archives for the convert benchmarks.

Two kinds, both written as mboxrd (From_ lines, ">From " quoting) with the
same seed giving the same bytes:

* ``mixed`` -- attachment-heavy mail, about what a personal mailbox holds:
  45% plain text (a quarter of it quoted-printable), 20% multipart/alternative
  text + HTML, 35% multipart/mixed with one to three base64 attachments of
  20 KB to 2 MB (PDF-, PNG- and JPEG-looking random bytes; sizes log-uniform,
  so most are small and a few are large). A third of the messages have RFC
  2047 encoded subjects or names.
* ``text`` -- mailing-list traffic: small text/plain messages of 2-5 KB with
  list headers, References chains and quoted replies; 10% QP, 10% encoded
  words.

    scripts/gen_archive.py mixed 300 /tmp/mixed.mbox   # >= 300 MB
    scripts/gen_archive.py text 100 /tmp/text.mbox

The size is in MB (10^6 bytes); generation stops at the first message past it.
"""

import base64
import math
import quopri
import random
import sys

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or "
    "his from at which but have an they you were her she there been one all we "
    "their has would when if so no will more can who some its into than them "
    "only time could new these may other about out any now then first our over "
    "such like just also after where most should through back well much must "
    "before here between both under never same another while last might great "
    "release build patch kernel driver mailbox parser header boundary archive "
    "message thread review commit branch merge test failure performance memory "
    "café naïve résumé über straße"
).split()

NAMES = [
    ("Alice Martin", "alice@example.org"),
    ("Bob Dupont", "bob@example.net"),
    ("José Müller", "jose@example.de"),
    ("Zoë Ødegaard", "zoe@example.no"),
    ("李雷", "lilei@example.cn"),
    ("Carol Smith", "carol@lists.example.com"),
    ("Dmitri Ivanov", "dmitri@example.ru"),
    ("Eve Adams", "eve@example.com"),
]

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()

MAGIC = {
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
    "jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
}


def encoded_word(text, rng):
    raw = text.encode("utf-8")
    if rng.random() < 0.5:
        return "=?UTF-8?B?" + base64.b64encode(raw).decode() + "?="
    q = "".join(
        chr(b) if (48 <= b < 58 or 65 <= b < 91 or 97 <= b < 123) else ("_" if b == 32 else "=%02X" % b)
        for b in raw
    )
    return "=?UTF-8?Q?" + q + "?="


def sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def paragraph(rng, nbytes):
    out, size = [], 0
    while size < nbytes:
        line = sentence(rng, rng.randint(8, 12))
        out.append(line)
        size += len(line.encode()) + 1
    return "\n".join(out)


def date(rng, i):
    t = 1_500_000_000 + i * 3607 + rng.randint(0, 3600)
    days, rem = divmod(t, 86400)
    # civil from days (Howard Hinnant)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y += m <= 2
    wd = DAYS[(days + 3) % 7]
    hh, mm, ss = rem // 3600, rem // 60 % 60, rem % 60
    env = "%s %s %2d %02d:%02d:%02d %d" % (wd, MONTHS[m - 1], d, hh, mm, ss, y)
    hdr = "%s, %d %s %d %02d:%02d:%02d +0000" % (wd, d, MONTHS[m - 1], y, hh, mm, ss)
    return env, hdr


def addr(rng, encode):
    name, email = rng.choice(NAMES)
    if encode or any(ord(c) > 127 for c in name):
        return "%s <%s>" % (encoded_word(name, rng), email), email
    return '"%s" <%s>' % (name, email), email


def headers(rng, i, list_mail):
    encode = rng.random() < (0.1 if list_mail else 0.33)
    frm, email = addr(rng, encode)
    to, _ = addr(rng, False)
    env, dt = date(rng, i)
    subj = sentence(rng, rng.randint(3, 9))
    subj = encoded_word(subj, rng) if encode else subj
    h = [
        "Return-Path: <%s>" % email,
        "Received: from mx%d.example.net (mx%d.example.net [192.0.2.%d])\n\tby mail.example.org with ESMTPS id %08x\n\tfor <list@example.org>; %s"
        % (i % 7, i % 7, i % 250, rng.getrandbits(32), dt),
        "From: " + frm,
        "To: " + to,
        "Subject: " + ("Re: " if list_mail and i % 3 else "") + subj,
        "Date: " + dt,
        "Message-ID: <%d.%08x@example.org>" % (i, rng.getrandbits(32)),
    ]
    if list_mail:
        refs = " ".join("<%d.ref@example.org>" % (i - k) for k in range(1, rng.randint(1, 6)))
        if refs:
            h.append("In-Reply-To: <%d.ref@example.org>" % (i - 1))
            h.append("References: " + refs)
        h += [
            "List-Id: Development list <dev.lists.example.com>",
            "List-Unsubscribe: <mailto:dev-unsubscribe@lists.example.com>",
            "List-Archive: <https://lists.example.com/archive/dev/>",
            "Precedence: list",
        ]
    if rng.random() < 0.3:
        h.append("Status: RO")
        h.append("X-Status: " + rng.choice(["", "A", "F"]))
    h.append("MIME-Version: 1.0")
    return env, h


def text_body(rng, nbytes, qp):
    text = paragraph(rng, nbytes)
    if qp:
        enc = quopri.encodestring(text.encode("utf-8")).decode("ascii")
        return ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"], enc
    return ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"], text


def html_of(text):
    paras = "".join("<p>%s</p>\n" % line for line in text.split("\n"))
    return "<html><head><style>p{margin:0}</style></head><body>\n%s</body></html>" % paras


def b64_lines(data):
    return base64.encodebytes(data).decode("ascii").rstrip("\n")


def attachment(rng, j):
    kind = rng.choice(["pdf", "pdf", "png", "jpg"])
    magic, ctype = MAGIC[kind]
    size = int(math.exp(rng.uniform(math.log(20_000), math.log(2_000_000))))
    data = magic + rng.randbytes(size - len(magic))
    name = "%s-%d.%s" % (rng.choice(["report", "scan", "photo", "facture", "Übersicht"]), j, kind)
    disp_name = name if name.isascii() else None
    lines = ["Content-Type: %s; name=\"%s\"" % (ctype, disp_name or encoded_word(name, rng))]
    if disp_name:
        lines.append('Content-Disposition: attachment; filename="%s"' % name)
    else:
        lines.append("Content-Disposition: attachment;\n filename*=UTF-8''%s" % "".join(
            c if c.isascii() and c.isalnum() or c in ".-" else "".join("%%%02X" % b for b in c.encode()) for c in name))
    lines.append("Content-Transfer-Encoding: base64")
    return lines, b64_lines(data)


def multipart(rng, subtype, parts):
    boundary = "----=_Part_%d_%d" % (rng.getrandbits(32), rng.getrandbits(16))
    out = []
    for hdrs, body in parts:
        out.append("--" + boundary)
        out.extend(hdrs)
        out.append("")
        out.append(body)
    out.append("--" + boundary + "--")
    return ['Content-Type: multipart/%s; boundary="%s"' % (subtype, boundary)], "\n".join(out)


def mixed_message(rng, i):
    env, h = headers(rng, i, False)
    r = rng.random()
    if r < 0.45:
        ch, body = text_body(rng, rng.randint(800, 8000), rng.random() < 0.25)
    elif r < 0.65:
        text = paragraph(rng, rng.randint(1000, 6000))
        plain = (["Content-Type: text/plain; charset=utf-8"], text)
        html = (["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"],
                quopri.encodestring(html_of(text).encode()).decode("ascii"))
        ch, body = multipart(rng, "alternative", [plain, html])
    else:
        parts = [text_body(rng, rng.randint(300, 3000), rng.random() < 0.25)]
        for j in range(rng.choice([1, 1, 1, 2, 3])):
            parts.append(attachment(rng, j))
        ch, body = multipart(rng, "mixed", parts)
    return env, h + ch, body


def text_message(rng, i):
    env, h = headers(rng, i, True)
    target = rng.randint(2000, 5000)
    size = sum(len(x) + 1 for x in h) + 80
    quote = "\n".join("> " + sentence(rng, 10) for _ in range(rng.randint(2, 8)))
    body_len = max(200, target - size - len(quote))
    ch, body = text_body(rng, body_len, rng.random() < 0.1)
    body = "On Mon, someone wrote:\n" + quote + "\n\n" + body + "\n-- \ndev mailing list\ndev@lists.example.com\n"
    return env, h + ch + ["Content-Disposition: inline"], body


def quote_from(body):
    # mboxrd: one more '>' on every ^>*From  line.
    out = []
    for line in body.split("\n"):
        s = line.lstrip(">")
        out.append(">" + line if s.startswith("From ") else line)
    return "\n".join(out)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("mixed", "text"):
        sys.exit(__doc__)
    kind, limit, path = sys.argv[1], int(float(sys.argv[2]) * 1_000_000), sys.argv[3]
    rng = random.Random(4 if kind == "mixed" else 5)
    make = mixed_message if kind == "mixed" else text_message
    written = n = 0
    with open(path, "wb") as f:
        while written < limit:
            env, h, body = make(rng, n)
            msg = "From %s %s\n%s\n\n%s\n\n" % (h[0][14:-1], env, "\n".join(h), quote_from(body))
            data = msg.encode("utf-8")
            f.write(data)
            written += len(data)
            n += 1
    print("%s: %d messages, %.1f MB" % (path, n, written / 1e6), file=sys.stderr)


if __name__ == "__main__":
    main()
