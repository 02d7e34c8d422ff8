"""The generator of ``testdata/mbox/outputs.mbox``: a small archive written
to test the query outputs (``python/tests/test_outputs.py``) with the real
clients. Every message is here for a reason, named in ``MESSAGES``:

* threads: a conversation with replies and forwards, replies to a message
  missing from the archive, two branches joined by a later reply, a cycle,
  messages with neither In-Reply-To nor References (with and without a
  Message-ID), a reply without a Message-ID;
* full-text search: an HTML-only message whose text sits only in its
  base64-encoded body (``HIDDEN_WORD`` appears nowhere in the raw bytes),
  and Japanese and Chinese text that only the trigram tokenizer segments;
* bad input: a header that is invalid in its charset, a Date that does not
  parse, a message with no header at all;
* facets and lists: repeated senders, several To/Cc mailboxes, Gmail labels,
  an attachment, a body line quoted as ``>From``.

``python python/tests/_outputs_archive.py`` rewrites the file; the test
checks that the committed file is what this module writes.
"""

import base64
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PATH = ROOT / "testdata" / "mbox" / "outputs.mbox"

# Found by full-text search, yet only inside a base64 body.
HIDDEN_WORD = "zephyrquokka"
# Substrings of the Japanese and Chinese bodies (3 characters: trigram).
JAPANESE = "天気は"
CHINESE = "北京开"

D = "@outputs.test"

# The one attachment (report.pdf), as its base64 decodes.
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4


def _b64(data):
    return base64.encodebytes(data).decode("ascii").rstrip("\n")


def _ew(text, charset="utf-8"):
    return "=?%s?B?%s?=" % (charset, base64.b64encode(text.encode(charset)).decode())


ALICE = '"Alice Martin" <alice@example.org>'
BOB = "Bob Dupont <bob@example.net>"
CAROL = "carol@example.com"
DAVE = "%s <dave@example.jp>" % _ew("山田太郎")


def _msg(name, headers, body, envelope="MAILER-DAEMON Mon Jan  1 00:00:00 2024"):
    return name, envelope, headers, body


def _plain(text):
    return ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"], text


def messages():
    """(name, envelope, header lines, body) of every message, in order."""
    out = []

    def add(name, hdrs, body_parts, **kw):
        extra, body = body_parts
        out.append(_msg(name, hdrs + extra, body, **kw))

    add(
        "root",
        [
            "From: " + ALICE,
            "To: " + BOB + ", " + CAROL,
            "Cc: " + DAVE,
            "Subject: Planning the release",
            "Date: Tue, 2 Jan 2024 10:00:00 +0200",
            "Message-ID: <root" + D + ">",
            "X-Gmail-Labels: Inbox,Important,\"Project X\"",
            "X-GM-THRID: 1787000000000000001",
            "Status: RO",
        ],
        _plain("Shall we plan the release for Friday?\n\nFrom the start it was late.\n"),
    )
    add(
        "reply",
        [
            "From: " + BOB,
            "To: " + ALICE,
            "Subject: Re: Planning the release",
            "Date: Tue, 2 Jan 2024 09:30:00 +0000",
            "Message-ID: <reply" + D + ">",
            "In-Reply-To: <root" + D + ">",
            "References: <root" + D + ">",
            "X-Gmail-Labels: Inbox",
            "X-GM-THRID: 1787000000000000001",
        ],
        _plain("Friday works.\n> Shall we plan the release for Friday?\n"),
    )
    add(
        "reply-to-reply",
        [
            "From: " + ALICE,
            "To: " + BOB,
            "Cc: " + CAROL + ", " + DAVE,
            "Subject: Re: Re: Planning the release",
            "Date: Tue, 2 Jan 2024 11:00:00 +0200",
            "Message-ID: <reply2" + D + ">",
            "In-Reply-To: <reply" + D + ">",
            "References: <root" + D + ">\n <reply" + D + ">",
        ],
        _plain("Good, Friday then.\n"),
    )
    add(
        "forward-with-references",
        [
            "From: " + CAROL,
            "To: eve@example.com",
            "Subject: Fwd: Planning the release",
            "Date: Wed, 3 Jan 2024 08:00:00 -0500",
            "Message-ID: <fwd1" + D + ">",
            "References: <root" + D + ">",
        ],
        _plain("---------- Forwarded message ---------\nShall we plan the release for Friday?\n"),
    )
    add(
        "forward-without-headers",
        [
            "From: " + BOB,
            "To: frank@example.com",
            "Subject: Fwd: Planning the release",
            "Date: Wed, 3 Jan 2024 09:00:00 +0100",
            "Message-ID: <fwd2" + D + ">",
        ],
        _plain("Forwarded, without threading headers.\n"),
    )
    add(
        "reply-without-message-id",
        [
            "From: " + CAROL,
            "To: " + ALICE,
            "Subject: Re: Planning the release",
            "Date: Wed, 3 Jan 2024 10:00:00 +0000",
            "In-Reply-To: <root" + D + ">",
        ],
        _plain("Replying from a client that sets no Message-ID.\n"),
    )
    add(
        "lost-parent-in-reply-to",
        [
            "From: " + BOB,
            "To: list@example.org",
            "Subject: Re: Lost thread",
            "Date: Thu, 4 Jan 2024 10:00:00 +0000",
            "Message-ID: <lost-a" + D + ">",
            "In-Reply-To: <lost" + D + ">",
        ],
        _plain("The message I reply to is not in this archive.\n"),
    )
    add(
        "lost-parent-references",
        [
            "From: " + ALICE,
            "To: list@example.org",
            "Subject: Re: Lost thread",
            "Date: Thu, 4 Jan 2024 11:00:00 +0000",
            "Message-ID: <lost-b" + D + ">",
            "References: <lost" + D + ">",
        ],
        _plain("Neither is it in mine.\n"),
    )
    add(
        "branch-one",
        [
            "From: " + ALICE,
            "To: list@example.org",
            "Subject: Re: branch one",
            "Date: Fri, 5 Jan 2024 10:00:00 +0000",
            "Message-ID: <branch1" + D + ">",
            "In-Reply-To: <gone1" + D + ">",
        ],
        _plain("First branch, its parent gone.\n"),
    )
    add(
        "branch-two",
        [
            "From: " + BOB,
            "To: list@example.org",
            "Subject: Re: branch two",
            "Date: Fri, 5 Jan 2024 10:30:00 +0000",
            "Message-ID: <branch2" + D + ">",
            "In-Reply-To: <gone2" + D + ">",
        ],
        _plain("Second branch, another parent gone.\n"),
    )
    add(
        "branches-joined",
        [
            "From: " + CAROL,
            "To: list@example.org",
            "Subject: Re: both branches",
            "Date: Fri, 5 Jan 2024 11:00:00 +0000",
            "Message-ID: <join" + D + ">",
            "References: <branch1" + D + "> <branch2" + D + ">",
        ],
        _plain("A reply to both branches joins them.\n"),
    )
    add(
        "neither-header",
        [
            "From: " + DAVE,
            "To: " + ALICE,
            "Subject: A new topic",
            "Date: Sat, 6 Jan 2024 10:00:00 +0900",
            "Message-ID: <alone" + D + ">",
        ],
        _plain("A message that starts its own thread.\n"),
    )
    add(
        "no-message-id-no-parent",
        [
            "From: " + DAVE,
            "To: " + BOB,
            "Subject: No id at all",
            "Date: Sat, 6 Jan 2024 11:00:00 +0900",
        ],
        _plain("Neither a Message-ID nor a parent: a thread of one.\n"),
    )
    add(
        "cycle-a",
        [
            "From: " + ALICE,
            "To: " + BOB,
            "Subject: Forged cycle",
            "Date: Sun, 7 Jan 2024 10:00:00 +0000",
            "Message-ID: <cycle-a" + D + ">",
            "In-Reply-To: <cycle-b" + D + ">",
        ],
        _plain("My parent is my child.\n"),
    )
    add(
        "cycle-b",
        [
            "From: " + BOB,
            "To: " + ALICE,
            "Subject: Forged cycle",
            "Date: Sun, 7 Jan 2024 10:05:00 +0000",
            "Message-ID: <cycle-b" + D + ">",
            "In-Reply-To: <cycle-a" + D + ">",
        ],
        _plain("And mine is mine.\n"),
    )
    add(
        "message-id-with-comment",
        [
            "From: " + ALICE,
            "To: list@example.org",
            "Subject: An id with a comment",
            "Date: Sun, 7 Jan 2024 12:00:00 +0000",
            # RFC 5322 allows CFWS around a msg-id; some relays add one.
            "Message-ID: <commented" + D + "> (added by relay.example.org)",
        ],
        _plain("My Message-ID field carries a comment.\n"),
    )
    add(
        "reply-to-commented",
        [
            "From: " + BOB,
            "To: list@example.org",
            "Subject: Re: An id with a comment",
            "Date: Sun, 7 Jan 2024 13:00:00 +0000",
            "Message-ID:\n <reply-commented" + D + ">",
            "In-Reply-To: <commented" + D + ">",
        ],
        _plain("I reply to the id between the brackets.\n"),
    )
    html = (
        "<html><head><style>p{color:red}</style></head><body>"
        "<p>The word <b>%s</b> is only in this base64 body.</p>"
        "<p>Caf&eacute; &amp; cr&egrave;me</p></body></html>\n" % HIDDEN_WORD
    )
    add(
        "html-only-base64",
        [
            "From: " + BOB,
            "To: " + CAROL,
            "Subject: Newsletter",
            "Date: Mon, 8 Jan 2024 10:00:00 +0000",
            "Message-ID: <html" + D + ">",
        ],
        (
            [
                "MIME-Version: 1.0",
                "Content-Type: text/html; charset=utf-8",
                "Content-Transfer-Encoding: base64",
            ],
            _b64(html.encode("utf-8")),
        ),
    )
    add(
        "japanese-and-chinese",
        [
            "From: " + DAVE,
            "To: " + ALICE + ", " + BOB,
            "Subject: " + _ew("明日の会議について"),
            "Date: Mon, 8 Jan 2024 18:00:00 +0900",
            "Message-ID: <cjk" + D + ">",
        ],
        (
            [
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: base64",
            ],
            _b64("東京都の天気は晴れです。\n我们明天在北京开会。\n".encode("utf-8")),
        ),
    )
    boundary = "outputs-boundary-1"
    add(
        "attachment",
        [
            "From: " + ALICE,
            "To: " + BOB,
            "Subject: The report",
            "Date: Tue, 9 Jan 2024 10:00:00 +0100",
            "Message-ID: <attach" + D + ">",
        ],
        (
            ["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="%s"' % boundary],
            "\n".join(
                [
                    "--" + boundary,
                    "Content-Type: text/plain; charset=utf-8",
                    "",
                    "The report is attached.",
                    "--" + boundary,
                    'Content-Type: application/pdf; name="report.pdf"',
                    'Content-Disposition: attachment; filename="report.pdf"',
                    "Content-Transfer-Encoding: base64",
                    "",
                    _b64(PDF),
                    "--" + boundary + "--",
                    "",
                ]
            ),
        ),
    )
    # "caf\xe9 \xff\xfe ok" is not UTF-8, the charset the word declares.
    bad_word = "=?utf-8?B?%s?=" % base64.b64encode(b"caf\xe9 \xff\xfe ok").decode()
    add(
        "bad-charset-header",
        [
            "From: " + CAROL,
            "To: " + BOB,
            "Subject: Invalid " + bad_word + " bytes",
            "Date: Tue, 9 Jan 2024 11:00:00 +0000",
            "Message-ID: <badcharset" + D + ">",
        ],
        _plain("Its subject is not valid UTF-8.\n"),
    )
    raw8 = (
        "raw-8bit-header",
        "MAILER-DAEMON Tue Jan  9 12:00:00 2024",
        [
            "From: Jos\udce9 <jose@example.es>",
            "To: " + BOB,
            "Subject: Caf\udce9 \udcff\udcfe raw bytes",
            "Date: Tue, 9 Jan 2024 12:00:00 +0000",
            "Message-ID: <raw8" + D + ">",
        ]
        + _plain("")[0],
        "Its Subject and From hold raw Latin-1 and invalid bytes.\n",
    )
    out.append(raw8)
    add(
        "bad-date",
        [
            "From: " + CAROL,
            "To: " + BOB,
            "Subject: When?",
            "Date: the day after tomorrow, around noon",
            "Message-ID: <baddate" + D + ">",
        ],
        _plain("Its Date field does not parse.\n"),
    )
    out.append(
        (
            "unparseable",
            "MAILER-DAEMON Wed Jan 10 00:00:00 2024",
            None,
            "This message has no header at all, only lines of text.\nNot one colon.\n",
        )
    )
    add(
        "last",
        [
            # received: the topmost Received field's date (the last hop).
            "Received: from mx.example.org by mail.example.com;\n Thu, 11 Jan 2024 11:05:00 +0100",
            "Received: from relay.example.net by mx.example.org; Thu, 11 Jan 2024 10:01:00 +0000",
            "From: " + ALICE,
            "To: " + CAROL,
            "Subject: Last one",
            "Date: Thu, 11 Jan 2024 10:00:00 +0000",
            "Message-ID: <last" + D + ">",
        ],
        _plain("The end of the archive.\n"),
    )
    return out


def _quote_from(body):
    # mboxrd: one more '>' on every ^>*From  line.
    return "\n".join(
        ">" + line if line.lstrip(">").startswith("From ") else line for line in body.split("\n")
    )


def build():
    """(the archive's bytes, [(name, offset)] of its messages)."""
    data, index = bytearray(), []
    for name, envelope, headers, body in messages():
        index.append((name, len(data)))
        # A message without a header block starts with its text.
        head = "" if headers is None else "\n".join(headers) + "\n\n"
        text = "From %s\n%s%s\n\n" % (envelope, head, _quote_from(body).rstrip("\n"))
        # surrogateescape: the raw 8-bit header's bytes go in as they are.
        data += text.encode("utf-8", "surrogateescape")
    return bytes(data), index


if __name__ == "__main__":
    PATH.write_bytes(build()[0])
    print("%s: %d messages, %d bytes" % (PATH, len(build()[1]), PATH.stat().st_size), file=sys.stderr)
