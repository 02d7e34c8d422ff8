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
  that went away (remove it). The comparison, the deliberate differences and
  the counting (``classify``, ``check_known``) are those of ``test_message``
  (documented there): messages the stdlib reports a structural defect for,
  and bare-CR sources, are not compared and are counted apart, never as
  agreement.

Skipped when the corpora folder is absent (a fresh clone has none); a
failure under ``MIMEFLOW_REQUIRE_ORACLES=1`` (CI).
"""

import pathlib
import re
import time

import pytest

import mimeflow
from _oracles import missing
from _tree import rebuild
from test_message import check_known, classify

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


def test_tree_rebuilds_every_message(messages):
    for name, data in messages:
        msg = mimeflow.parse(data)
        assert rebuild(msg.root) == data, "%s: the rebuilt tree differs from the source" % name


def test_corpora_agree_with_stdlib(messages):
    check_known(classify(messages), KNOWN_DIFFERENCES, "corpora")
