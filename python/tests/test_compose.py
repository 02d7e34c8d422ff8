"""MessageBuilder, compose() and normalize(), checked by the stdlib's reading:
every message parses in ``email`` (policy.default) without defects, with the
headers, file names and decoded payloads that went in; lines stay within
RFC 5322's limits (998 octets; 78 for the header lines we write)."""

import datetime
import email
import email.policy
import email.utils
import io
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mimeflow
from _tree import rebuild

# Text without control characters or surrogates (the builder takes str).
_chars = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
SPECIALS = '()<>[]:;@\\,."=?_ '
_words = st.text(
    alphabet=st.one_of(
        st.sampled_from(string.ascii_letters + string.digits + SPECIALS),
        st.sampled_from("äöüßéèçñøåłžЖЯ中文日本語🙂"),
        _chars,
    ),
    min_size=1,
    max_size=40,
)


def _phrase(max_words):
    # Words joined by single spaces: header unfolding and encoded-word
    # decoding may collapse whitespace runs, which is not what is tested.
    return st.lists(_words.map(lambda w: "".join(w.split())).filter(bool), max_size=max_words).map(
        " ".join
    )


subjects = _phrase(30)
names = _phrase(6)
filenames = st.tuples(_phrase(8).filter(bool), st.sampled_from(["", ".pdf", ".bin", ".tar.gz"])).map(
    lambda t: t[0].replace("/", "_").replace("\\", "_") + t[1]
)
blobs = st.binary(max_size=5000)


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def check_lines(raw, header_limit=78):
    """Every line <= 998 octets; lines of every header block <= 78."""
    lines = raw.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)
    # Header blocks: the top one, and each part's (after a boundary line).
    in_header = True
    for line in lines:
        if in_header:
            assert len(line) <= header_limit, line
            if line == b"":
                in_header = False
        elif line.startswith(b"--") and len(line) > 2:
            in_header = not line.rstrip().endswith(b"--")


def no_defects(msg):
    for part in msg.walk():
        assert not part.defects, (part.get_content_type(), part.defects)


def attachments_of(msg):
    return [
        (p.get_filename(), p.get_payload(decode=True))
        for p in msg.walk()
        if p.get_content_disposition() == "attachment"
    ]


def body_text(msg, kind):
    part = msg.get_body((kind,))
    return None if part is None else part.get_content().replace("\r\n", "\n")


@given(subject=subjects, name=names, fname=filenames, data=blobs, text=st.text(_chars, max_size=300))
def test_builder_roundtrips_through_stdlib(subject, name, fname, data, text):
    b = (
        mimeflow.MessageBuilder()
        .from_(mimeflow_address(name, "sender@example.org"))
        .to(["bob@example.com", "Carol <carol@example.net>"])
        .subject(subject)
        .text(text)
        .attach(data, fname, "application/octet-stream")
    )
    raw = b.build()
    check_lines(raw)
    msg = parse(raw)
    no_defects(msg)
    assert str(msg["Subject"]) == subject
    (sender,) = msg["From"].addresses
    assert sender.addr_spec == "sender@example.org"
    # CPython keeps the whitespace between adjacent encoded-words inside a
    # phrase (RFC 2047 §6.2 says to drop it), so a name folded over two
    # words comes back with an extra space there: compare without spaces,
    # and check the exact text with mimeflow's own reading.
    assert sender.display_name.replace(" ", "") == name.replace(" ", "")
    if name:
        assert name in mimeflow.parse(raw).get("From")
    assert [a.addr_spec for a in msg["To"].addresses] == ["bob@example.com", "carol@example.net"]
    assert attachments_of(msg) == [(fname, data)]
    got = body_text(msg, "plain")
    assert got.rstrip("\n") == text.replace("\r\n", "\n").rstrip("\n")
    assert msg["MIME-Version"] == "1.0"
    assert rebuild(mimeflow.parse(raw).root) == raw


def mimeflow_address(name, addr):
    # A display name as a caller would write it: quoted, with `\` and `"`
    # escaped, so any text goes.
    if not name:
        return addr
    return '"%s" <%s>' % (name.replace("\\", "\\\\").replace('"', '\\"'), addr)


@given(
    subject=subjects,
    html=st.text(_chars, max_size=200),
    image=blobs,
    header_value=subjects,
    files=st.lists(st.tuples(filenames, blobs), max_size=3),
)
def test_compose_keywords(subject, html, image, header_value, files):
    raw = mimeflow.compose(
        from_="a@example.org",
        to="b@example.org",
        cc=["c@example.org"],
        bcc="hidden@example.org",
        subject=subject,
        date=datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc),
        message_id="abc@example.org",
        headers={"X-Custom": header_value},
        text="plain body\n",
        html="<p>%s</p><img src=cid:logo>" % html,
        inline={"logo": (image, "logo.png", "image/png")},
        attachments=[(d, f, "application/octet-stream") for f, d in files],
    )
    check_lines(raw)
    msg = parse(raw)
    no_defects(msg)
    assert str(msg["Subject"]) == subject
    assert str(msg["X-Custom"]) == header_value
    assert msg["Bcc"] is None  # a recipient, not a header
    assert msg["Message-ID"] == "<abc@example.org>"
    assert msg["Date"].datetime == datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    assert body_text(msg, "plain") == "plain body\n"
    assert body_text(msg, "html").rstrip("\n") == ("<p>%s</p><img src=cid:logo>" % html).replace(
        "\r\n", "\n"
    ).rstrip("\n")
    inline = [p for p in msg.walk() if p["Content-ID"]]
    assert [(p["Content-ID"], p.get_payload(decode=True)) for p in inline] == [("<logo>", image)]
    assert attachments_of(msg) == [(f, d) for f, d in files]


def test_builder_api(tmp_path):
    big = tmp_path / "big.bin"
    chunk = bytes(range(256)) * 4096  # 1 MiB
    with open(big, "wb") as f:
        for _ in range(5):
            f.write(chunk)
    inner = mimeflow.MessageBuilder().from_("x@example.org").subject("inner").text("hi\n")
    b = (
        mimeflow.MessageBuilder()
        .from_("a@example.org")
        .to("b@example.org")
        .bcc("c@example.org")
        .reply_to("r@example.org")
        .header("X-Mailer", "mimeflow")
        .subject("files")
        .date(0)
        .attach(big)  # a path: streamed
        .attach(b"%PDF-1.4", "doc.pdf")  # type guessed from the name
        .attach_message(inner, "inner.eml")
        .attach_message(mimeflow.parse(b"Subject: parsed\r\n\r\nbody\r\n"))
    )
    assert b.recipients() == ["b@example.org", "c@example.org"]
    raw = b.build()
    check_lines(raw)
    msg = parse(raw)
    no_defects(msg)
    assert msg["Reply-To"] == "r@example.org"
    assert msg["X-Mailer"] == "mimeflow"
    att = dict(attachments_of(msg))
    assert att["big.bin"] == chunk * 5
    assert att["doc.pdf"] == b"%PDF-1.4"
    types = [p.get_content_type() for p in msg.walk()]
    assert "application/pdf" in types
    carried = [p for p in msg.walk() if p.get_content_type() == "message/rfc822"]
    assert [str(p.get_content()["Subject"]) for p in carried] == ["inner", "parsed"]

    # Streaming: to a path and to a file object, same bytes as build()
    # but for the generated parts (boundaries, Message-ID).
    out = tmp_path / "out.eml"
    n = b.write_to(out)
    assert n == out.stat().st_size
    assert dict(attachments_of(parse(out.read_bytes())))["big.bin"] == chunk * 5
    sink = io.BytesIO()
    assert b.write_to(sink) == len(sink.getvalue())
    assert attachments_of(parse(sink.getvalue())) == attachments_of(msg)

    # Parsed by mimeflow too, and its tree (nested multiparts, carried
    # messages) gives the built bytes back.
    m = mimeflow.parse(raw)
    assert {p.filename for p in m.attachments()} >= {"big.bin", "doc.pdf"}
    assert rebuild(m.root) == raw


def test_write_to_path_keeps_what_the_user_had(tmp_path):
    """write_to(path) never truncates or follows: an existing name (a file
    or a planted link) raises FileExistsError and stays as it was;
    overwrite=True replaces the name atomically (a link itself, not its
    target); a failing build leaves the old file whole and no temp file."""
    import os

    b = mimeflow.MessageBuilder().from_("a@example.org").subject("s").text("hi\n")
    mine = tmp_path / "mine.eml"
    mine.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        b.write_to(mine)
    assert mine.read_bytes() == b"precious"
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"victim")
    link = tmp_path / "link.eml"
    os.symlink(victim, link)
    dangling = tmp_path / "dangling.eml"
    os.symlink(tmp_path / "nowhere", dangling)
    for p in (link, dangling):
        with pytest.raises(FileExistsError):
            b.write_to(p)
    assert victim.read_bytes() == b"victim"
    assert not (tmp_path / "nowhere").exists()
    n = b.write_to(link, overwrite=True)
    assert not link.is_symlink() and link.stat().st_size == n
    assert victim.read_bytes() == b"victim"
    broken = mimeflow.MessageBuilder().text("x").attach(tmp_path / "missing.bin")
    with pytest.raises(FileNotFoundError):
        broken.write_to(mine, overwrite=True)
    assert mine.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["mine.eml", "victim.txt", "link.eml", "dangling.eml"]
    )


def test_builder_errors(tmp_path):
    b = mimeflow.MessageBuilder().to("ok@example.org")
    with pytest.raises(mimeflow.ComposeError):
        b.to("not an address")
    assert b.recipients() == ["ok@example.org"]  # unchanged by the failure
    with pytest.raises(ValueError):
        b.header("Content-Type", "text/plain")
    with pytest.raises(mimeflow.ComposeError):
        b.header("Bad Name", "x")
    with pytest.raises(ValueError, match="transport"):
        b.transport("9bit")
    b.attach(tmp_path / "missing.bin")
    with pytest.raises(FileNotFoundError):
        b.build()
    with pytest.raises(FileNotFoundError):
        b.write_to(tmp_path / "out.eml")
    assert not (tmp_path / "out.eml").exists()
    with pytest.raises(TypeError):
        mimeflow.MessageBuilder().attach(12)

    class Broken(io.RawIOBase):
        def write(self, b):
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        mimeflow.MessageBuilder().text("x").write_to(Broken())


@given(
    subject=subjects,
    body=st.binary(max_size=3000),
    fname=filenames,
    crlf=st.booleans(),
)
def test_normalize(subject, body, fname, crlf):
    # A message in raw 8-bit: UTF-8 header text, an 8-bit body, a long line.
    head = (
        "Subject: %s\nFrom: Zoë <z@example.org>\nMIME-Version: 1.0\n"
        'Content-Type: application/octet-stream; name="%s"\n'
        "Content-Transfer-Encoding: binary\n\n"
        % (subject, fname.replace('"', "").replace("\\", ""))
    ).encode("utf-8")
    src = head + body
    if crlf:
        src = src.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        body = mimeflow.parse(src).root.payload()
    out = mimeflow.normalize(src)
    assert all(b < 0x80 for b in out)  # 7-bit clean
    assert all(len(line) <= 998 for line in out.split(b"\r\n"))
    msg = parse(out)
    # An ASCII subject is an RFC 2047 header as it stands: one shaped like
    # an encoded-word ("=??Q??=") reads as what it encodes, before normalize
    # and after. Raw UTF-8 text is the text.
    want = str(parse(src)["Subject"]) if subject.isascii() else subject
    assert str(msg["Subject"]) == want
    assert msg["From"].addresses[0].display_name == "Zoë"
    assert msg.get_payload(decode=True) == mimeflow.parse(src).root.payload()
    # Idempotent, and typed inputs accepted.
    assert mimeflow.normalize(out) == out
    assert mimeflow.normalize(bytearray(src)) == out
    assert mimeflow.normalize(memoryview(src)) == out


def test_normalize_rejects_str():
    with pytest.raises(TypeError):
        mimeflow.normalize("Subject: x\n\n")  # type: ignore[arg-type]


def test_tree_rebuilds_exactly():
    # Odd spacing and 8-bit bytes kept: the header block and body ranges
    # give the source back (to_bytes() is the source, so it proves nothing).
    src = b"Subject: x\nX-Odd:   spaced  \n\n\xff\xfe body\n"
    for data in (src, bytearray(src), src.replace(b"\n", b"\r\n")):
        m = mimeflow.parse(data)
        assert rebuild(m.root) == data
        assert m.root.body() == data[data.index(b"\xff") :]


# Issue 9 item 4: values that could end an id or a header field.
HOSTILE_IDS = [
    "<x@y>\r\nBcc: attacker@evil.example",
    "x@y\r\n\r\nbody",
    "x\ny",
    "x\ry",
    "x\0y",
    "x\x0by",
    "x\x7fy",
    "x y",
    "x\ty",
    "x<y",
    "x>y",
    "<<x>>",
    "ü@y",
    "",
    "x" * 901,
]


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_ids_that_could_inject_are_refused(bad):
    b = mimeflow.MessageBuilder().from_("a@example.org").to("b@example.org")
    with pytest.raises(mimeflow.ComposeError, match="Message-ID"):
        b.message_id(bad)
    with pytest.raises(mimeflow.ComposeError, match="Content-ID"):
        b.inline(b"\x89PNG", bad, "logo.png")
    with pytest.raises(mimeflow.ComposeError):
        mimeflow.compose(from_="a@example.org", to="b@example.org", message_id=bad)
    with pytest.raises(mimeflow.ComposeError):
        mimeflow.compose(from_="a@example.org", to="b@example.org", html="x", inline={bad: b"x"})
    # The builder is unchanged by the refusals.
    msg = parse(b.build())
    assert [p.get_content_type() for p in msg.walk()] == ["text/plain"]
    assert "Bcc" not in msg


def test_ids_that_are_file_names_still_work():
    raw = (
        mimeflow.MessageBuilder()
        .from_("a@example.org")
        .message_id("<x.1@example.org>")
        .html('<img src="cid:logo.png">')
        .inline(b"\x89PNG", "logo.png", "logo.png")
        .build()
    )
    msg = parse(raw)
    no_defects(msg)
    assert msg["Message-ID"] == "<x.1@example.org>"
    assert [p["Content-ID"] for p in msg.walk() if p["Content-ID"]] == ["<logo.png>"]


HOSTILE = "a\r\nX-Injected: 1\r\n\r\nbody\n\0\x0b\x7f<>\"\\ tail"


def test_no_builder_input_adds_a_header_field(tmp_path):
    # Free text is encoded, never a new field.
    raw = mimeflow.compose(
        from_="a@example.org",
        to="b@example.org",
        subject=HOSTILE,
        headers={"X-Note": HOSTILE},
        text=HOSTILE,
        html=HOSTILE,
        attachments=[(b"data", HOSTILE), (b"data", HOSTILE, "text/plain")],
        messages=[(mimeflow.MessageBuilder().subject("inner"), HOSTILE)],
    )
    check_lines(raw)
    msg = parse(raw)
    no_defects(msg)
    assert all("X-Injected" not in p for p in msg.walk())
    clean = HOSTILE.replace("\r", " ").replace("\n", " ")
    assert msg["Subject"] == clean
    assert msg["X-Note"] == clean
    assert [f for f, _ in attachments_of(msg)].count(HOSTILE) == 3
    # Structured values are checked.
    b = mimeflow.MessageBuilder()
    for mime in ["text/plain\r\nX-Injected: 1", "text/plain; charset=x", "text", "/x", "a b/c"]:
        with pytest.raises(mimeflow.ComposeError, match="MIME type"):
            b.attach(b"x", "a.txt", mime)
    for addr in ["a@b\r\nX-Injected: 1", "a@b.c\nBcc: x@y.z", "a@[x>,y]", "a\0@b.c"]:
        with pytest.raises(mimeflow.ComposeError, match="address"):
            b.to(addr)
    for name in ["X-A\r\nX-Injected", "X A", "Bcc", "Content-Type"]:
        with pytest.raises(mimeflow.ComposeError):
            b.header(name, "v")
    assert b.recipients() == []


# Issue 9 item 15: dates before 1970, and out of range.
@pytest.mark.parametrize(
    "ts",
    [-1, -0.5, -86400 * 365, -14_182_940, -2_203_891_200, -2_208_988_800, 0, 951_782_400, 253_402_300_799],
)
def test_dates_match_the_stdlib(ts):
    want = email.utils.format_datetime(
        datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=ts)
    )
    for date in [ts, datetime.datetime.fromtimestamp(ts, datetime.timezone.utc) if ts > -2e9 else ts]:
        raw = mimeflow.compose(from_="a@example.org", date=date)
        assert parse(raw)["Date"] == want, (ts, raw[:60])
        assert mimeflow.MessageBuilder().date(date).build().startswith(b"Date: " + want.encode())


@pytest.mark.parametrize(
    "date",
    [
        -2_208_988_801,
        253_402_300_800,
        1e20,
        -1e20,
        1e300,
        2**64,
        -(2**63),
        2**1100,
        float("inf"),
        float("-inf"),
        float("nan"),
        datetime.datetime(1899, 12, 31, 23, 59, tzinfo=datetime.timezone.utc),
    ],
)
def test_dates_out_of_range_are_refused(date):
    with pytest.raises(mimeflow.ComposeError, match="date out of range"):
        mimeflow.MessageBuilder().date(date)
    with pytest.raises(mimeflow.ComposeError, match="date out of range"):
        mimeflow.compose(from_="a@example.org", date=date)


# Issue 9 item 18: attachments arrive byte for byte.
TEXT_FILES = {
    "lf.txt": b"line one\nline two\n",
    "cr.txt": b"line one\rline two\r",
    "mixed.txt": b"a\r\nb\nc\rd\n\re\r\r\n",
    "blanks.txt": b"a  \nb\t\n c \t\nd \r\n",
    "nofinal.txt": b"abc\ndef",
    "long.txt": b"x" * 3000 + b"\n" + b"y " * 700 + b"\n",
    "nul.txt": b"a\0b\nc\0",
    "utf8.txt": "Grüße\nKöln\n".encode(),
    "latin1.csv": b"caf\xe9\nna\xefve\n",
    "dots.txt": b".\n..x\nFrom me\n=41\n",
    "empty.txt": b"",
    "crlf.txt": b"line one\r\nline two\r\n",
    "crlf-utf8.txt": "Grüße\r\nKöln\r\n".encode(),
    "crlf-long.txt": b"x" * 3000 + b"\r\n",
}


@pytest.mark.parametrize("transport", ["7bit", "8bit", "binary"])
def test_attachments_arrive_byte_for_byte(tmp_path, transport):
    b = mimeflow.MessageBuilder().from_("a@example.org").text("body\n").transport(transport)
    for name, data in TEXT_FILES.items():
        b.attach(data, name)
        path = tmp_path / ("file-" + name)
        path.write_bytes(data)
        b.attach(path)
    want = [(n, d) for name, d in TEXT_FILES.items() for n in (name, "file-" + name)]
    for raw in (b.build(), _written(b)):
        msg = parse(raw)
        no_defects(msg)
        assert attachments_of(msg) == want
        ours = mimeflow.parse(raw)
        assert [(p.filename, p.payload()) for p in ours.attachments()] == want
    # Canonical CRLF ASCII text still travels 7bit, as is.
    crlf = [p for p in parse(b.build()).walk() if p.get_filename() == "crlf.txt"][0]
    assert crlf["Content-Transfer-Encoding"] == "7bit"


def _written(b):
    sink = io.BytesIO()
    b.write_to(sink)
    return sink.getvalue()


@given(
    data=st.binary(max_size=400).map(lambda b: bytes(b"a \t\r\n=.\0\xe9"[x % 9] for x in b)),
    transport=st.sampled_from(["7bit", "8bit", "binary"]),
)
def test_any_text_attachment_round_trips(data, transport):
    raw = mimeflow.MessageBuilder().transport(transport).attach(data, "p.txt").build()
    assert attachments_of(parse(raw)) == [("p.txt", data)]


def test_build_too_big_for_memory_raises(tmp_path):
    # A sparse 4 TiB attachment file: build() sized its buffer with
    # Vec::with_capacity and the allocation failure aborted the
    # interpreter. It now raises MemoryError (write_to streams instead).
    # In a child under RLIMIT_AS, so the outcome does not depend on the
    # machine's overcommit policy.
    import subprocess
    import sys

    big = tmp_path / "sparse.bin"
    with open(big, "wb") as f:
        f.truncate(1 << 42)
    child = (
        "import resource, sys, mimeflow\n"
        "resource.setrlimit(resource.RLIMIT_AS, (32 << 30, 32 << 30))\n"
        "b = mimeflow.MessageBuilder().from_('a@example.org').attach(sys.argv[1])\n"
        "try:\n"
        "    b.build()\n"
        "except MemoryError as e:\n"
        "    print('MemoryError', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", child, str(big)], capture_output=True, timeout=120
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert out.stdout.startswith(b"MemoryError"), out.stdout
    assert b"write it to a file" in out.stdout
