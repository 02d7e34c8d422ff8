"""mimeflow.parse on the shared corpora (../shared/corpora, see its README).

Every message of every folder's MANIFEST.tsv: ``eml`` files whole, mailboxes
(``mbox``/``mboxrd``) split simply at lines starting with "From ". Two tests:

* every message parses, walks and decodes (Rust side) without an exception,
  and the whole corpus within a generous time bound;
* structure, filenames and decoded payloads agree with the stdlib ``email``
  package on at least 99% of the messages where the stdlib reports no
  structural defect. The comparison, the structural defects and the
  deliberate differences are those of ``test_message`` (documented there);
  the disagreements are printed (``pytest -s``).

Skipped when the corpora folder is absent (a fresh clone has none).
"""

import pathlib
import re
import time

import pytest

import mimeflow
from test_message import check_all, report

CORPORA = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora"

pytestmark = pytest.mark.skipif(not CORPORA.is_dir(), reason="../shared/corpora is absent")

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
    items = corpus_messages()
    if not items:
        pytest.skip("the corpora hold no messages")
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
        assert msg.to_bytes() == data
    elapsed = time.perf_counter() - start
    print(
        "\ncorpora: %d messages, %d parts, %.1f MB parsed+walked+decoded in %.3f s (%.0f MB/s)"
        % (len(messages), parts, total_bytes / 1e6, elapsed, total_bytes / 1e6 / elapsed)
    )
    # Generous: a few milliseconds per message even on a loaded CI runner.
    assert elapsed < 30


def test_corpora_agree_with_stdlib(messages):
    summary = check_all(messages)
    ratio = report(summary, "corpora")
    assert ratio >= 0.99, "agreement %.4f < 0.99" % ratio
