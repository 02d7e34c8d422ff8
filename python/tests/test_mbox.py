"""mimeflow.mbox and mimeflow.convert against the stdlib and the CLI."""

import email
import email.policy
import filecmp
import gzip
import mailbox
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

import _oracles
import mimeflow
from mimeflow import mbox

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "testdata" / "mbox" / "sample.mbox"

# mboxrd quoting, undone: `>From ` -> `From `, `>>From ` -> `>From `, ...
_UNQUOTE = re.compile(rb"^>(>*From )", re.MULTILINE)


def stdlib_messages(path):
    """The stdlib's split, with mboxrd unquoting applied by hand:
    mailbox.mbox never undoes `>From` quoting (it reads every archive as
    mboxo and returns the quoted bytes), while mimeflow reads the sample as
    mboxrd (sniffed from its `>>From` lines) and undoes it exactly."""
    box = mailbox.mbox(str(path), create=False)
    try:
        return [_UNQUOTE.sub(rb"\1", box.get_bytes(key)) for key in box.keys()]
    finally:
        box.close()


def leaf_payloads_stdlib(raw):
    """Decoded leaves, or None when the stdlib found the message malformed
    (its recovery differs from mimeflow's there: e.g. a message without a
    header block is all body to the stdlib, all header to mimeflow)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if any(part.defects for part in msg.walk()):
        return None
    out = []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() == "message":
            continue
        out.append(part.get_payload(decode=True))
    return out


def leaf_payloads(msg):
    return [p.payload() for p in msg.walk() if p.kind == "leaf"]


def test_iteration_matches_stdlib():
    ours = list(mbox.open(SAMPLE))
    theirs = stdlib_messages(SAMPLE)
    assert len(ours) == len(theirs) == 28
    compared = 0
    for m, raw in zip(ours, theirs):
        assert isinstance(m, mimeflow.Message)
        assert m.to_bytes() == raw
        expected = leaf_payloads_stdlib(raw)
        if expected is not None:
            assert leaf_payloads(m) == expected
            compared += 1
    assert compared >= 20


def test_reader_attributes():
    r = mbox.open(SAMPLE)
    assert iter(r) is r
    assert r.variant == "mboxrd"
    assert r.skipped == []
    assert sum(1 for _ in r) == 28
    with pytest.raises(StopIteration):
        next(r)


def test_with_info_points_into_the_archive():
    data = SAMPLE.read_bytes()
    entries = list(mbox.open(str(SAMPLE), with_info=True))
    end = 0
    for i, (info, msg) in enumerate(entries):
        assert isinstance(info, mbox.EntryInfo)
        assert info.index == i
        assert info.offset == end  # entries tile the archive
        chunk = data[info.offset : info.offset + info.length]
        assert chunk.startswith(b"From " + info.envelope + b"\n")
        assert isinstance(msg, mimeflow.Message)
        end = info.offset + info.length
    assert end == len(data)


def _key(info, msg):
    return (info.offset, info.length, info.envelope, msg.to_bytes())


def _big_archive(tmp_path, n=300):
    """An mboxrd archive with quoted From lines and From lines that are
    not separators, to give the cutter many places to go wrong."""
    out = []
    for i in range(n):
        body = b"line %d\n" % i
        if i % 3 == 0:
            body += b">From quoted\n>>From twice\n"
        if i % 5 == 0:
            body += b"\nFrom nobody in particular\n"  # not an envelope
        out.append(
            b"From a%d@example.org Thu Jan  1 00:00:%02d 1970\n"
            b"Subject: m%d\nContent-Type: text/plain\n\n%s\n" % (i, i % 60, i, body * (1 + i % 7))
        )
    p = tmp_path / "big.mbox"
    p.write_bytes(b"".join(out))
    return p


@pytest.mark.parametrize("n", range(1, 17))
@pytest.mark.parametrize("which", ["sample", "generated"])
def test_ranges_give_the_whole_archive(tmp_path, n, which):
    path = SAMPLE if which == "sample" else _big_archive(tmp_path)
    whole = [_key(i, m) for i, m in mbox.open(path, with_info=True)]
    ranges, variant = mbox.plan_splits(path, n)
    assert variant == "mboxrd"
    assert 1 <= len(ranges) <= n
    assert ranges[0][0] == 0 and ranges[-1][1] == path.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    got = []
    for start, end in ranges:
        part = mbox.process_range(path, start, end, variant)
        assert [info.index for info, _ in part] == list(range(len(part)))
        got.extend(_key(i, m) for i, m in part)
    assert got == whole



def test_open_hands_out_many_units_in_order(tmp_path):
    """An archive of many read-ahead units (4 MiB each, two per thread in
    flight): ``open`` hands every message out once, in archive order, as
    one serial read of the whole file (``process_range``) finds them."""
    body = b"".join(b"line %05d of a body long enough to fill the units\n" % k for k in range(300))
    out = []
    for i in range(1500):
        out.append(b"From a%d@example.org Thu Jan  1 00:00:00 1970\nSubject: m%d\n\n%s\n" % (i, i, body))
    path = tmp_path / "units.mbox"
    path.write_bytes(b"".join(out))
    assert path.stat().st_size > 20 << 20  # five units and more
    got = [(info.index, info.offset, info.length, m.get("subject")) for info, m in mbox.open(path, with_info=True)]
    assert [g[0] for g in got] == list(range(1500))
    assert [g[3] for g in got] == ["m%d" % i for i in range(1500)]
    serial = mbox.process_range(path, 0, path.stat().st_size, "mboxrd")
    assert [g[1:3] for g in got] == [(info.offset, info.length) for info, _ in serial]


def test_plan_splits_any_n_returns_at_once(tmp_path):
    """A huge ``n`` costs no more than one range per message (it used to
    loop ``n`` times: 2**63 never returned and ignored Ctrl-C). Run in a
    child so that a regression fails on the timeout instead of hanging."""
    path = _big_archive(tmp_path)
    code = (
        "import sys\n"
        "from mimeflow import mbox\n"
        "for n in (2**63, 2**64 - 1, 10**15):\n"
        "    ranges, variant = mbox.plan_splits(sys.argv[1], n)\n"
        "    print(len(ranges), ranges[0][0], ranges[-1][1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    messages = len(list(mbox.open(path)))
    size = path.stat().st_size
    assert done.stdout.split("\n")[:-1] == [f"{messages} 0 {size}"] * 3
    with pytest.raises(OverflowError):
        mbox.plan_splits(path, 2**64)


def test_fifo_and_devices(tmp_path):
    """What cannot be mapped is streamed: a FIFO gives the file's messages
    (it used to fail with "Illegal seek"), /dev/zero is not an mbox (it
    used to be an empty archive); neither can be cut into ranges."""
    import threading

    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)

    def feed():
        with fifo.open("wb") as w:
            w.write(SAMPLE.read_bytes())

    t = threading.Thread(target=feed)
    t.start()
    try:
        got = [_key(i, m) for i, m in mbox.open(fifo, with_info=True)]
    finally:
        t.join()
    assert got == [_key(i, m) for i, m in mbox.open(SAMPLE, with_info=True)]
    with pytest.raises(mimeflow.MboxError) as e:
        mbox.open("/dev/zero")
    assert e.value.kind == "not_mbox"
    for path in (fifo, pathlib.Path("/dev/zero")):
        with pytest.raises(mimeflow.MboxError) as e:
            mbox.plan_splits(path, 4)
        assert e.value.kind == "refused" and "not a regular file" in str(e.value)
        with pytest.raises(mimeflow.MboxError) as e:
            mbox.process_range(path, 0, 100, "mboxrd")
        assert e.value.kind == "refused"


_TRUNCATE_SCRIPT = """
import os, sys
from mimeflow import mbox
path, mode = sys.argv[1], sys.argv[2]
copy = mode == "copy"
if sys.argv[3] == "open":
    it = mbox.open(path, copy=copy)
    held = [next(it) for _ in range(50)]
else:
    ranges, variant = mbox.plan_splits(path, 1)
    held = [m for _, m in mbox.process_range(path, 0, ranges[0][1], variant, copy=copy)]
os.truncate(path, 0)
size = sum(len(m.to_bytes()) + len(m.root.payload()) for m in held)
subjects = [m.get("Subject") for m in held]
rest = len(list(it)) if sys.argv[3] == "open" else 0
print(len(held), size > 0, subjects[-1], rest >= 0)
"""


@pytest.mark.parametrize("api", ["open", "process_range"])
def test_truncated_archive_copy_mode_survives(tmp_path, api):
    """A mail client compacting the archive while messages are alive: with
    ``copy=True`` the messages (and, for ``open``, the rest of the
    iteration) never touch a map of the file, so the interpreter survives.
    Without it the same script dies of SIGBUS, which is what ``copy`` is
    for. Run in children, without core dumps."""
    import resource
    import signal

    def run(mode):
        # Several read-ahead batches long, so that `open` meets the
        # truncation while reading too.
        path = tmp_path / f"{api}-{mode}.mbox"
        shutil.copy(_big_archive(tmp_path, n=40_000), path)
        return subprocess.run(
            [sys.executable, "-c", _TRUNCATE_SCRIPT, str(path), mode, api],
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)),
        )

    done = run("copy")
    assert done.returncode == 0, (done.returncode, done.stderr)
    n, nonempty, subject, ok = done.stdout.split()
    assert int(n) == 50 if api == "open" else int(n) > 50
    assert nonempty == "True" and subject.startswith("m") and ok == "True"
    mapped = run("map")
    assert mapped.returncode == -signal.SIGBUS, (mapped.returncode, mapped.stderr)

def test_compressed_archive(tmp_path):
    gz = tmp_path / "sample.mbox.gz"
    gz.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    plain = [_key(i, m) for i, m in mbox.open(SAMPLE, with_info=True)]
    r = mbox.open(gz, with_info=True)
    assert r.variant == "mboxrd"
    assert [_key(i, m) for i, m in r] == plain
    with pytest.raises(mimeflow.MboxError) as e:
        mbox.plan_splits(gz, 4)
    assert e.value.kind == "refused"
    assert isinstance(e.value, ValueError)
    assert "compressed" in str(e.value)
    with pytest.raises(mimeflow.MboxError):
        mbox.process_range(gz, 0, 100, "mboxrd")


def _mboxcl2(tmp_path):
    bodies = [b"Hello\nFrom here the body goes on\n", b"second\n"]
    out = []
    for i, body in enumerate(bodies):
        out.append(
            b"From x@example.org Thu Jan  1 00:00:00 1970\n"
            b"Subject: %d\nContent-Length: %d\n\n%s\n" % (i, len(body), body)
        )
    p = tmp_path / "cl2.mbox"
    p.write_bytes(b"".join(out))
    return p


def test_mboxcl2_is_read_but_not_split(tmp_path):
    p = _mboxcl2(tmp_path)
    msgs = list(mbox.open(p, variant="mboxcl2"))
    assert len(msgs) == 2
    assert msgs[0].root.payload() == b"Hello\nFrom here the body goes on\n"
    with pytest.raises(mimeflow.MboxError) as e:
        mbox.plan_splits(p, 4, variant="mboxcl2")
    assert e.value.kind == "refused"
    assert "mboxcl2" in str(e.value)
    with pytest.raises(mimeflow.MboxError):
        mbox.process_range(p, 0, 10, "mboxcl2")


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        mbox.open(tmp_path / "missing.mbox")
    assert e.value.filename == str(tmp_path / "missing.mbox")
    with pytest.raises(FileNotFoundError):
        mbox.plan_splits(tmp_path / "missing.mbox", 2)
    bad = tmp_path / "bad.mbox"
    bad.write_bytes(b"Subject: not an archive\n\nhello\n")
    for call in (lambda: mbox.open(bad), lambda: mbox.plan_splits(bad, 2)):
        with pytest.raises(mimeflow.MboxError) as e:
            call()
        assert e.value.kind == "not_mbox"
        assert isinstance(e.value, mimeflow.MimeflowError)
    badgz = tmp_path / "bad.gz"
    badgz.write_bytes(gzip.compress(b"hello\n"))
    with pytest.raises(mimeflow.MboxError):
        mbox.open(badgz)
    with pytest.raises(ValueError, match="unknown mbox variant"):
        mbox.open(SAMPLE, variant="mbox9")
    empty = tmp_path / "empty.mbox"
    empty.write_bytes(b"")
    assert list(mbox.open(empty)) == []
    assert mbox.plan_splits(empty, 3)[0] == [(0, 0)]


# --- convert ---------------------------------------------------------------


def _cli():
    env = os.environ.get("MIMEFLOW_BIN")
    if env:
        return env if pathlib.Path(env).is_file() else None
    # The project's own build only (the freshest), never one found elsewhere.
    found = [
        pathlib.Path(t) / p / "mimeflow"
        for t in (os.environ.get("CARGO_TARGET_DIR"), ROOT / "target")
        if t
        for p in ("release", "debug")
    ]
    found = [c for c in found if c.is_file()]
    return str(max(found, key=lambda c: c.stat().st_mtime)) if found else None


def _same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    assert not cmp.left_only and not cmp.right_only and not cmp.funny_files
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    assert not mismatch and not errors
    for d in cmp.common_dirs:
        _same_tree(os.path.join(a, d), os.path.join(b, d))


@pytest.mark.parametrize("fmt", ["mbox", "jsonl", "eml"])
def test_convert_matches_cli(tmp_path, fmt):
    cli = _cli()
    if cli is None:
        _oracles.missing("mimeflow CLI not built (cargo build --features cli; or set MIMEFLOW_BIN)")
    ours, theirs = tmp_path / ("py." + fmt), tmp_path / ("cli." + fmt)
    stats = mimeflow.convert(SAMPLE, ours, to=fmt, jobs=2)
    subprocess.run([cli, "-q", "convert", str(SAMPLE), "--to", fmt, str(theirs)], check=True)
    if fmt == "eml":
        _same_tree(ours, theirs)
    else:
        assert ours.read_bytes() == theirs.read_bytes()
    assert stats["messages_in"] == stats["written"] == 28
    assert stats["skipped"] == 0
    assert stats["variant"] == stats["source_kind"] == "mboxrd"
    assert stats["format"] == fmt
    assert stats["bytes_in"] == SAMPLE.stat().st_size
    assert stats["seconds"] >= 0


def test_convert_on_every_pool_size_gives_the_same_output(tmp_path):
    # jobs=N runs the conversion on a pool of its own, on one of the pool's
    # threads; with jobs=1 the in-order commit once waited there for
    # batches queued behind itself, and the call never returned. In a
    # child process with a time limit, so that a hang fails this test
    # instead of holding the suite.
    code = (
        "import sys, mimeflow\n"
        "for j in (1, 2, 3, None):\n"
        "    for fmt in ('jsonl', 'eml'):\n"
        "        s = mimeflow.convert(sys.argv[1], f'{sys.argv[2]}/{j}.{fmt}', to=fmt, jobs=j)\n"
        "        assert s['written'] == 28, s\n"
    )
    argv = [sys.executable, "-c", code, str(SAMPLE), str(tmp_path)]
    subprocess.run(argv, check=True, timeout=120)
    want = (tmp_path / "None.jsonl").read_bytes()
    for j in (1, 2, 3):
        assert (tmp_path / f"{j}.jsonl").read_bytes() == want
        _same_tree(tmp_path / f"{j}.eml", tmp_path / "None.eml")


def test_convert_mbox_roundtrip_and_progress(tmp_path):
    calls = []
    dst = tmp_path / "out.mbox"
    stats = mimeflow.convert(str(SAMPLE), str(dst), to="mbox", progress=lambda *a: calls.append(a))
    assert calls and calls[-1][2] == 28
    assert calls[-1][1] == SAMPLE.stat().st_size
    before = [m.to_bytes() for m in mbox.open(SAMPLE)]
    assert [m.to_bytes() for m in mbox.open(dst)] == before
    assert set(stats) >= {
        "messages_in",
        "written",
        "skipped",
        "bytes_in",
        "variant",
        "seconds",
        "reports",
    }


def test_convert_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown output format"):
        mimeflow.convert(SAMPLE, tmp_path / "x", to="pdf")
    with pytest.raises(ValueError):
        mimeflow.convert(SAMPLE, tmp_path / "x", to="mbox", jobs=0)
    with pytest.raises(OSError):
        mimeflow.convert(tmp_path / "missing", tmp_path / "x", to="mbox")

    class Stop(Exception):
        pass

    def stop(*_):
        raise Stop

    with pytest.raises(Stop):
        mimeflow.convert(SAMPLE, tmp_path / "y.mbox", to="mbox", progress=stop)
    dst = tmp_path / "z.mbox"
    mimeflow.convert(SAMPLE, dst, to="mbox")
    with pytest.raises(mimeflow.ConvertError):
        mimeflow.convert(SAMPLE, dst, to="mbox")  # destination exists
