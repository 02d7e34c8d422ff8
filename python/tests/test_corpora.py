"""mimeflow.parse on the shared corpora (../shared/corpora, see its README).

Every message of every folder's MANIFEST.tsv: ``eml`` files whole, mailboxes
(``mbox``/``mboxrd``) split simply at lines starting with "From ". Three tests:

* every message parses, walks and decodes (Rust side) without an exception,
  and the whole corpus within a generous time bound;
* every message is rebuilt from its tree (each part's header block and body,
  the delimiter lines between parts) and must give the source back, so the
  tree is tested, not ``to_bytes()`` (which is the source itself);
* structure, filenames and decoded payloads agree with the stdlib ``email``
  package on every message but the ones listed in ``KNOWN_DIFFERENCES``,
  each with its reason: one new disagreement fails, and so does a listed one
  that went away (remove it). The comparison and the deliberate differences
  are those of ``test_message`` (documented there). Messages the stdlib
  reports a structural defect for, and bare-CR sources (which ``compare``
  does not compare), are counted apart, never as agreement.

Skipped when the corpora folder is absent (a fresh clone has none); a
failure under ``MIMEFLOW_REQUIRE_ORACLES=1`` (CI).
"""

import pathlib
import re
import time

import pytest

import mimeflow
from _oracles import missing
from test_message import DELIBERATE, compare

CORPORA = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora"

# Messages of the corpora where we knowingly disagree with the stdlib, by
# name (as corpus_messages() names them), each with the reason. Empty today:
# all 541 comparable messages agree.
KNOWN_DIFFERENCES = {}

_FROM_LINE = re.compile(rb"(?:^|\n)From ")


def corpus_messages():
    """(name, bytes) for every message of the corpora, in a stable order."""
    items = []
    for manifest in sorted(CORPORA.glob("*/MANIFEST.tsv")):
        folder = manifest.parent
        for line in manifest.read_text().splitlines():
            if not line or line.startswith("#"):
                continue
            rel, _, kind = line.partition("\t")
            path = folder / rel
            if not path.is_file():
                continue
            name = "%s/%s" % (folder.name, rel)
            data = path.read_bytes()
            if kind == "eml":
                items.append((name, data))
            elif kind in ("mbox", "mboxrd"):
                starts = [m.start() + (1 if m.group().startswith(b"\n") else 0) for m in _FROM_LINE.finditer(data)]
                starts.append(len(data))
                for i, (a, b) in enumerate(zip(starts, starts[1:])):
                    # The "From " line itself is the envelope, not a header.
                    chunk = data[a:b]
                    nl = chunk.find(b"\n")
                    items.append(("%s#%d" % (name, i), chunk[nl + 1:] if nl >= 0 else b""))
    return items


@pytest.fixture(scope="module")
def messages():
    if not CORPORA.is_dir():
        missing("%s is absent" % CORPORA)
    items = corpus_messages()
    if not items:
        missing("%s holds no messages" % CORPORA)
    print("\ncorpora: %d messages" % len(items))
    return items


def test_every_message_parses_in_time(messages):
    total_bytes = sum(len(d) for _, d in messages)
    start = time.perf_counter()
    parts = 0
    for _, data in messages:
        msg = mimeflow.parse(data)
        for part in msg.walk():
            parts += 1
            if part.kind == "leaf":
                part.payload()
    elapsed = time.perf_counter() - start
    print(
        "\ncorpora: %d messages, %d parts, %.1f MB parsed+walked+decoded in %.3f s (%.0f MB/s)"
        % (len(messages), parts, total_bytes / 1e6, elapsed, total_bytes / 1e6 / elapsed)
    )
    # Generous: a few milliseconds per message even on a loaded CI runner.
    assert elapsed < 30


def _delimiter_line(line, boundary, close=False):
    """Whether ``line`` is "--boundary" (plus "--" when ``close``) followed
    only by transport padding and its line end (RFC 2046 §5.1.1)."""
    head = b"--" + boundary + (b"--" if close else b"")
    return line.startswith(head) and not line[len(head):].strip(b" \t\r\n")


def rebuild(part):
    """``part`` rebuilt from the tree: its header block, then a leaf's body,
    a carried message, or a multipart's preamble, delimiter lines, parts and
    close delimiter. Asserts each piece is what the grammar says it is."""
    raw, body = part.raw(), part.body()
    assert raw.endswith(body), "part %r: body is not the end of raw()" % part.section
    head = raw[: len(raw) - len(body)]
    children = part.children
    if part.kind == "leaf":
        assert not children
        return head + body
    if part.kind == "message":
        assert len(children) == 1 and children[0].raw() == body, part.section
        return head + rebuild(children[0])
    boundary = dict(part.params)["boundary"].encode("utf-8", "surrogateescape")

    def skip_delimiters(pos):
        """The end of the delimiter lines starting at ``pos`` (at least one)."""
        first = pos
        while True:
            nl = body.find(b"\n", pos)
            line = body[pos:] if nl < 0 else body[pos : nl + 1]
            if not line or not _delimiter_line(line, boundary):
                break
            pos += len(line)
        assert pos > first, "part %r: no delimiter line at %d: %r" % (part.section, first, body[first:first + 80])
        return pos

    out, at = [head], 0
    for i, child in enumerate(children):
        if i == 0:
            # The preamble runs to the first line that is a delimiter.
            pos = 0
            while not _delimiter_line(body[pos:body.find(b"\n", pos) + 1 or len(body)], boundary):
                nl = body.find(b"\n", pos)
                assert nl >= 0, "part %r: no opening delimiter" % part.section
                pos = nl + 1
        else:
            # The line end before a delimiter belongs to it.
            eol = 2 if body.startswith(b"\r\n", at) else 1 if body.startswith(b"\n", at) else 0
            assert eol, "part %r: no line end before part %r" % (part.section, child.section)
            pos = at + eol
        found = skip_delimiters(pos)
        craw = child.raw()
        if not craw and not body.startswith((b"\n", b"\r\n"), found):
            # An empty part opened on the next delimiter line itself sits
            # before the line end that belongs to that delimiter.
            found -= 2 if body[found - 2 : found] == b"\r\n" else 1
        assert body.startswith(craw, found), "part %r: part %r does not follow its delimiter" % (
            part.section,
            child.section,
        )
        out += [body[at:found], rebuild(child)]
        at = found + len(craw)
    tail = body[at:]
    after = tail[1 if tail.startswith(b"\n") else 2:] if tail.startswith((b"\n", b"\r\n")) else None
    closed = after is not None and _delimiter_line(after.splitlines(keepends=True)[0] if after else b"", boundary, True)
    unclosed = any(code in ("missing_close_delimiter", "parts_limit") for code, _ in part.defects)
    assert closed or unclosed, "part %r: %r holds no close delimiter" % (part.section, tail[:80])
    out.append(tail)
    return b"".join(out)


def test_tree_rebuilds_every_message(messages):
    for name, data in messages:
        msg = mimeflow.parse(data)
        assert rebuild(msg.root) == data, "%s: the rebuilt tree differs from the source" % name


def classify(items):
    """Sorts (name, data) items by how ``compare`` saw them: agree, disagree
    (name -> problems), structural (stdlib structural defects: not
    compared) and bare-cr (not compared either)."""
    out = {"agree": [], "disagree": {}, "structural": [], "bare-cr": [], "deliberate": {}}
    for name, data in items:
        problems, notes, struct = compare(data)
        if struct:
            out["structural"].append(name)
            continue
        if any(case == "bare-cr" for case, _ in notes):
            out["bare-cr"].append(name)
            continue
        for case, _ in notes:
            out["deliberate"].setdefault(case, []).append(name)
        if problems:
            out["disagree"][name] = problems
        else:
            out["agree"].append(name)
    return out


def test_corpora_agree_with_stdlib(messages):
    c = classify(messages)
    print(
        "\ncorpora: %d agree, %d disagree (%d known), %d not compared: %d stdlib structural defects, %d bare CR"
        % (len(c["agree"]), len(c["disagree"]), len(KNOWN_DIFFERENCES), len(c["structural"]) + len(c["bare-cr"]),
           len(c["structural"]), len(c["bare-cr"]))
    )
    for case, names in sorted(c["deliberate"].items()):
        print("DELIBERATE %s [%s]: %d: %s" % (case, DELIBERATE[case], len(names), ", ".join(names[:8])))
    new = {n: p for n, p in c["disagree"].items() if n not in KNOWN_DIFFERENCES}
    gone = sorted(set(KNOWN_DIFFERENCES) - set(c["disagree"]))
    assert not new, "new disagreements with the stdlib:\n" + "\n".join(
        "%s\n    %s" % (n, "\n    ".join(p)) for n, p in sorted(new.items())
    )
    assert not gone, "listed in KNOWN_DIFFERENCES but agree now (remove them): %s" % gone
    assert c["agree"], "nothing was compared"


def test_classify_counts_exclusions_apart():
    # A bare-CR source is not compared: it must not count as agreement.
    bare = b"Subject: x\rContent-Type: text/plain\r\rbody\r"
    c = classify([("bare", bare), ("ok", b"Subject: y\n\nbody\n")])
    assert c["bare-cr"] == ["bare"] and c["agree"] == ["ok"]
