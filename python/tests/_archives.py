"""Generated archives shared by ``test_dask.py`` and ``test_spark_ray.py``:
plain mboxes (replies across archives, an optional message larger than the
blocks a test cuts them into, optional CRLF lines, ``>From`` body lines that
only the engine's rule tells from a message start), a gzipped mbox, a
Maildir and an ``.eml`` folder, plus the one-machine Parquet that every
distributed result is compared with.
"""

import gzip
import pathlib
import shutil

import pyarrow.parquet as pq

import mimeflow

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUTPUTS_MBOX = ROOT / "testdata" / "mbox" / "outputs.mbox"


WORDS = "the release mailbox parser header boundary archive thread review From café über".split()


def _message(rng, i, prefix, parent=None, body_bytes=600, eol="\n"):
    lines = [
        "From: User %d <user%d@example.org>" % (i % 7, i % 7),
        "To: list@example.org, Other <other@example.net>",
        "Subject: %s message %d %s" % (prefix, i, rng.choice(WORDS)),
        "Date: Tue, %d Jan 2024 %02d:%02d:00 +0100" % (1 + i % 28, i % 24, i % 60),
        "Message-ID: <%s-%d@example.org>" % (prefix, i),
    ]
    if parent is not None:
        lines.append("In-Reply-To: <%s>" % parent)
        lines.append("References: <%s>" % parent)
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", ""]
    body = []
    size = 0
    while size < body_bytes:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        if rng.random() < 0.05:
            # A body line that looks like a From_ line: quoted in mboxrd, and
            # after a blank line, so only the engine's rule tells it apart.
            body.append("")
            line = ">From someone@example.org Mon Jan  1 00:00:00 2024"
        body.append(line)
        size += len(line) + 1
    text = "\n".join(lines + body) + "\n"
    envelope = "From user%d@example.org Tue Jan  2 10:00:00 2024\n" % (i % 7)
    return (envelope + text + "\n").replace("\n", eol).encode()


def _mbox(path, prefix, count, rng, parents=(), big=None, eol="\n"):
    parts = []
    for i in range(count):
        parent = parents[i % len(parents)] if parents and i % 3 == 0 else None
        if parent is None and i > 0 and i % 4 == 0:
            parent = "%s-%d@example.org" % (prefix, i - 1)
        size = big if big is not None and i == count // 2 else rng.randint(200, 3000)
        parts.append(_message(rng, i, prefix, parent, size, eol))
    path.write_bytes(b"".join(parts))
    return ["%s-%d@example.org" % (prefix, i) for i in range(count)]


def _file_message(rng, i, prefix):
    data = _message(rng, i, prefix, "a-%d@example.org" % i if i % 2 else None, 800)
    return data.split(b"\n", 1)[1]  # no From_ line in a file of its own


def gzip_mbox(path, prefix, count, rng, parents=()):
    """A plain mbox like ``_mbox``'s, written gzipped to ``path``."""
    plain = path.with_name(path.name + ".plain")
    _mbox(plain, prefix, count, rng, parents=parents)
    with open(plain, "rb") as f, gzip.open(path, "wb") as g:
        shutil.copyfileobj(f, g)
    plain.unlink()


def maildir(path, count, rng):
    """A Maildir of ``count`` messages, in new/ and in cur/ with flags."""
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True)
    for i in range(count):
        sub, info = ("cur", ":2,S" if i % 3 else ":2,RS") if i % 2 else ("new", "")
        name = "17000000%02d.M%dP1.host%s" % (i, i, info)
        (path / sub / name).write_bytes(_file_message(rng, i, "m"))


def one_machine(src, dst):
    """The rows and threads of the one-machine ``convert --to parquet``."""
    mimeflow.convert(str(src), str(dst), to="parquet")
    rows = pq.read_table(str(dst))
    threads = pq.read_table(str(dst)[: -len(".parquet")] + ".threads.parquet")
    return rows, threads
