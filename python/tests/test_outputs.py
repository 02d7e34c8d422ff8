"""The query outputs (``convert --to sqlite``, ``--to parquet``, the schema
fields and threads file of ``--to jsonl``), read by the real clients and
never by our own reader: pyarrow, DuckDB and polars read the Parquet files,
Python's ``sqlite3`` runs FTS5 queries, Datasette's own test client serves
the database, and a thread rule written here in a few plain lines checks
the thread ids.

Archives: ``testdata/mbox/outputs.mbox`` (written by ``_outputs_archive``,
every message there for a named reason), the bundled ``sample.mbox``, the
mixed and text archives of ``scripts/gen_archive.py`` at a small size, and
the shared corpora (``../shared/corpora``: its ``.eml`` messages as one
folder, and each of its mailboxes). The CLI is the one ``cargo build
--features cli`` made (or ``MIMEFLOW_BIN``). A missing client, CLI or
corpus skips, and fails under ``MIMEFLOW_REQUIRE_ORACLES=1`` (CI).
"""

import asyncio
import contextlib
import email
import email.policy
import gzip
import hashlib
import json
import lzma
import os
import pathlib
import re
import signal
import sqlite3
import subprocess
import sys

import pytest

import _oracles
import _outputs_archive as generated
import mimeflow
from test_mbox import _cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUTPUTS = generated.PATH
SAMPLE = ROOT / "testdata" / "mbox" / "sample.mbox"
CORPORA = ROOT / ".." / "shared" / "corpora"
GEN_ARCHIVE = ROOT / "scripts" / "gen_archive.py"


client = _oracles.client


def cli():
    path = _cli()
    if path is None:
        _oracles.missing("mimeflow CLI not built (cargo build --features cli; or set MIMEFLOW_BIN)")
    return path


def run(*args, ok=True):
    """Runs the CLI; with ``ok``, checks that it exits 0."""
    p = subprocess.run(
        [cli(), "-j2", *map(str, args)], capture_output=True, text=True, timeout=120
    )
    if ok:
        assert p.returncode == 0, p.stderr
    return p


# --- the archives and their outputs ------------------------------------------


def _corpora_mailboxes():
    """Every mailbox of the corpora's manifests: (name, path)."""
    out = []
    for manifest in sorted(CORPORA.glob("*/MANIFEST.tsv")):
        for line in manifest.read_text().splitlines():
            rel, _, kind = line.partition("\t")
            if kind in ("mbox", "mboxrd"):
                out.append(("%s/%s" % (manifest.parent.name, rel), manifest.parent / rel))
    return out


def _reads_as_mbox(path):
    try:
        mimeflow.mbox.plan_splits(path, 1)
        return True
    except mimeflow.MboxError:
        return False


def _corpora_names():
    """The corpora's archives: its ``.eml`` messages as one folder, and
    each mailbox the mbox reader takes (the others, whose first line is no
    From_ line, are ``test_corpora_mailboxes_refused_alike``'s); one name
    when the corpora are absent, which then skips."""
    if not CORPORA.is_dir():
        return ["corpora"]
    return ["corpora-eml"] + [
        "corpora-mbox:" + name for name, path in _corpora_mailboxes() if _reads_as_mbox(path)
    ]


ARCHIVES = ["outputs", "sample", "mixed", "text"] + _corpora_names()


class Outputs:
    """One archive converted to jsonl (``--text``), sqlite, one Parquet
    file and a folder of Parquet parts, by the CLI."""

    def __init__(self, src, out):
        self.src = src
        out.mkdir()
        self.jsonl = out / "out.jsonl"
        self.db = out / "out.db"
        self.pq_file = out / "out.parquet"
        self.pq_dir = out / "parts"
        run("convert", src, "--to", "jsonl", "--text", self.jsonl)
        run("convert", src, "--to", "sqlite", self.db)
        run("convert", src, "--to", "parquet", self.pq_file)
        run("convert", src, "--to", "parquet", self.pq_dir)
        self.records = _read_jsonl(self.jsonl)
        self.threads = _read_jsonl(out / "out.threads.jsonl")

    def connect(self):
        return connect(self.db, readonly=True)

    def parquet(self, table, folder):
        """A Parquet table of the file or folder form, read by pyarrow."""
        client("pyarrow")
        import pyarrow.parquet as pq

        if folder:
            if table == "threads":
                return pq.read_table(self.pq_dir / "threads.parquet")
            return pq.read_table(sorted((self.pq_dir / table).glob("part-*.parquet")))
        if table == "messages":
            return pq.read_table(self.pq_file)
        return pq.read_table(self.pq_file.with_name("out.%s.parquet" % table))


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@contextlib.contextmanager
def connect(path, readonly=False):
    """A sqlite3 connection, committed and closed at the end."""
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True) if readonly else sqlite3.connect(path)
    try:
        with c:
            yield c
    finally:
        c.close()


def _make_archive(name, tmp):
    """The path of archive ``name`` (made under ``tmp`` if generated)."""
    if name == "outputs":
        return OUTPUTS
    if name == "sample":
        return SAMPLE
    if name in ("mixed", "text"):
        path = tmp / (name + ".mbox")
        size = "2.5" if name == "mixed" else "1"
        subprocess.run(
            [sys.executable, str(GEN_ARCHIVE), name, size, str(path)],
            check=True,
            capture_output=True,
        )
        return path
    if not CORPORA.is_dir():
        _oracles.missing("../shared/corpora is absent")
    if name == "corpora-eml":
        folder = tmp / "corpora-eml"
        folder.mkdir()
        i = 0
        for manifest in sorted(CORPORA.glob("*/MANIFEST.tsv")):
            for line in manifest.read_text().splitlines():
                rel, _, kind = line.partition("\t")
                if kind == "eml":
                    data = (manifest.parent / rel).read_bytes()
                    (folder / ("%05d.eml" % i)).write_bytes(data)
                    i += 1
        assert i > 0, "no eml messages in the corpora manifests"
        return folder
    return CORPORA / name.split(":", 1)[1]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Outputs per archive name, made once per module as tests ask."""
    made = {}

    def get(name):
        if name not in made:
            tmp = tmp_path_factory.mktemp("out")
            made[name] = Outputs(_make_archive(name, tmp), tmp / "o")
        return made[name]

    return get


def _keys(t):
    return list(zip(t.column("source").to_pylist(), t.column("offset").to_pylist()))


# --- rows: counts and sha256 agree across outputs ---------------------------


def test_corpora_mailboxes_refused_alike(tmp_path):
    """A mailbox the mbox reader refuses (its first line is no From_ line:
    ``From -`` alone, prose, binary) is refused by every output the same
    way: exit status 1, one line, nothing left behind."""
    if not CORPORA.is_dir():
        _oracles.missing("../shared/corpora is absent")
    refused = [(n, p) for n, p in _corpora_mailboxes() if not _reads_as_mbox(p)]
    for name, path in refused:
        for to, dest in (("jsonl", "o.jsonl"), ("sqlite", "o.db"), ("parquet", "o.parquet"), ("parquet", "o")):
            p = run("convert", path, "--to", to, tmp_path / dest, ok=False)
            assert p.returncode == 1, (name, to, p.stderr)
            assert len(p.stderr.strip().splitlines()) == 1, (name, to, p.stderr)
            assert "not an mbox archive" in p.stderr, (name, to)
            assert list(tmp_path.iterdir()) == [], (name, to)


@pytest.mark.parametrize("name", ARCHIVES)
def test_every_output_holds_the_same_rows(outputs, name):
    o = outputs(name)
    want = [(r["source"], r["offset"], r["sha256"]) for r in o.records]
    assert want, "no messages"
    assert [r["row"] for r in o.records] == list(range(len(want)))
    with o.connect() as db:
        got = db.execute('SELECT source, "offset", sha256 FROM messages ORDER BY id').fetchall()
        assert got == want
        assert db.execute("SELECT count(*) FROM threads").fetchone()[0] == len(want)
        assert db.execute("SELECT count(*) FROM messages WHERE thread_id IS NULL").fetchone() == (0,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with connect(o.db) as db:
        # The full-text index agrees with its content table (raises if not;
        # an FTS5 command, so a writable connection, though it writes nothing).
        db.execute("INSERT INTO messages_fts(messages_fts) VALUES('integrity-check')")
    for folder in (False, True):
        t = o.parquet("messages", folder)
        got = list(zip(_keys(t), t.column("sha256").to_pylist()))
        assert [(s, off, sha) for (s, off), sha in got] == want
        assert t.column("row").to_pylist() == list(range(len(want)))
    # Python's Arrow stream of the archive is the Parquet file's table.
    pa = client("pyarrow")
    assert pa.table(mimeflow.mbox.read_arrow(o.src)).equals(o.parquet("messages", False))
    # The sha256 is the message's own bytes: the raw column of --raw.
    t = pa.table(mimeflow.mbox.read_arrow(o.src, ["offset", "sha256", "raw"], raw=True))
    for sha, data in zip(t.column("sha256").to_pylist(), t.column("raw").to_pylist()):
        assert hashlib.sha256(data).hexdigest() == sha
    assert t.column("sha256").to_pylist() == [sha for _, _, sha in want]


def masked(rows):
    """Rows of an FTS5 shadow table, the structure record's cookie (row 10
    of ``_data``: its first four bytes, a counter of structure writes,
    which setting a config value also bumps) set to zero."""
    return [(10, b"\0\0\0\0" + r[1][4:]) if r[0] == 10 and isinstance(r[1], bytes) else r for r in rows]


@pytest.mark.parametrize("name", ARCHIVES)
def test_fts_index_is_the_one_a_rebuild_makes(outputs, name, tmp_path):
    """A fresh database's index is built beside the load and copied in
    (src/batch/format/sqlite.rs, SideFts): FTS5's own 'rebuild' of a copy,
    with the build's hashsize, must give the same shadow tables (but for
    the structure cookie, a write counter), and the same answers. Python's
    SQLite is older than the bundled one: on an archive large enough to
    flush more than once, their segment layouts may differ (same terms);
    the test archives are flushed once."""
    o = outputs(name)
    copy = tmp_path / "rebuilt.db"
    with connect(o.db, readonly=True) as src, contextlib.closing(sqlite3.connect(copy)) as dst:
        src.backup(dst)
    with connect(copy) as db:
        # With the build's own setting (FTS_HASHSIZE: where segments are
        # cut), which the build takes out of the config table after it.
        assert not db.execute("SELECT 1 FROM messages_fts_config WHERE k = 'hashsize'").fetchall()
        db.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES('hashsize', 8388608)")
        db.execute("INSERT INTO messages_fts(messages_fts) VALUES('rebuild')")
        db.execute("DELETE FROM messages_fts_config WHERE k = 'hashsize'")
    shadows = ["messages_fts_data", "messages_fts_idx", "messages_fts_docsize", "messages_fts_config"]
    with connect(o.db, readonly=True) as a, connect(copy, readonly=True) as b:
        for t in shadows:
            q = "SELECT * FROM %s ORDER BY 1, 2" % t
            assert masked(a.execute(q).fetchall()) == masked(b.execute(q).fetchall()), t
        # Every term of the index finds the same rows in both.
        a.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, 'messages_fts', 'row')")
        terms = [t for (t,) in a.execute("SELECT term FROM temp.v ORDER BY cnt DESC, term LIMIT 200")]
        # (A corpus mailbox may hold no indexed text; ours all do.)
        assert terms or name.startswith("corpora"), "an empty index"
        q = "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid"
        for term in terms:
            phrase = '"%s"' % term.replace('"', '""')
            assert a.execute(q, (phrase,)).fetchall() == b.execute(q, (phrase,)).fetchall(), term


@pytest.mark.parametrize("name", ARCHIVES)
def test_every_output_holds_the_same_threads(outputs, name):
    o = outputs(name)
    want = [(t["source"], t["offset"], t["thread_id"]) for t in o.threads]
    assert [(s, off) for s, off, _ in want] == [(r["source"], r["offset"]) for r in o.records]
    with o.connect() as db:
        got = db.execute(
            'SELECT t.source, t."offset", t.thread_id FROM threads t '
            "JOIN messages m ON m.id = t.message AND m.thread_id = t.thread_id "
            'AND m.source = t.source AND m."offset" = t."offset" ORDER BY t.message'
        ).fetchall()
    assert got == want
    for folder in (False, True):
        t = o.parquet("threads", folder)
        cols = (t.column(c).to_pylist() for c in ("source", "offset", "thread_id"))
        assert list(zip(*cols)) == want


# --- threads against a reference written here -------------------------------


def reference_threads(messages):
    """The thread rule of docs/schema.md, written plainly: ``messages`` is
    a list of (source, offset, message_id, in_reply_to, references); the
    result is each message's thread id.

    Each message is a node named by its Message-ID (or by "source NUL
    offset" without one), linked to every ID it names as a parent; a thread
    is a connected component. Its root is the node no message gives a
    parent (else any node), the one whose sha256 is smallest; the id is the
    first 16 hex digits of the root name's sha256.
    """
    edges, has_parent, own = {}, set(), []
    for source, offset, mid, irt, refs in messages:
        me = mid or "%s\0%d" % (source, offset)
        edges.setdefault(me, set())
        for p in list(refs) + ([irt] if irt else []):
            if p and p != mid:
                has_parent.add(me)
                edges[me].add(p)
                edges.setdefault(p, set()).add(me)
        own.append(me)
    sha = {n: hashlib.sha256(n.encode("utf-8")).hexdigest() for n in edges}
    thread = {}
    for start in edges:
        if start in thread:
            continue
        component, todo = {start}, [start]
        while todo:
            for nxt in edges[todo.pop()]:
                if nxt not in component:
                    component.add(nxt)
                    todo.append(nxt)
        roots = [n for n in component if n not in has_parent] or list(component)
        tid = min(sha[n] for n in roots)[:16]
        for n in component:
            thread[n] = tid
    return [thread[me] for me in own]


@pytest.mark.parametrize("name", ARCHIVES)
def test_thread_ids_follow_the_reference(outputs, name):
    o = outputs(name)
    fields = [
        (r["source"], r["offset"], r["message_id"], r["in_reply_to"], r["references"])
        for r in o.records
    ]
    assert [t["thread_id"] for t in o.threads] == reference_threads(fields)


def _raw_messages():
    """(name, offset, bytes) of outputs.mbox, cut by the generator's index."""
    data, index = generated.build()
    ends = [off for _, off in index[1:]] + [len(data)]
    out = []
    for (name, off), end in zip(index, ends):
        # The From_ line and the blank line before the next one are the
        # archive's, not the message's.
        chunk = data[off : end - 1]
        body = chunk[chunk.index(b"\n") + 1 :]
        out.append((name, off, re.sub(rb"(?m)^>(>*From )", rb"\1", body)))
    return out


def _tid(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_threads_of_the_generated_archive(outputs):
    """The threading headers read by the stdlib's ``email``, threaded by the
    reference; and what each case of the archive is there to show."""
    o = outputs("outputs")
    source = str(OUTPUTS)
    fields, names = [], []
    for name, off, raw in _raw_messages():
        m = email.message_from_bytes(raw, policy=email.policy.compat32)
        ids = lambda h: re.findall(r"<[^>]*>", " ".join(m.get_all(h, [])))  # noqa: E731
        mid = (ids("Message-ID") or [None])[0]
        irt = (ids("In-Reply-To") or [None])[0]
        fields.append((source, off, mid, irt, ids("References")))
        names.append(name)
    got = dict(zip(names, (t["thread_id"] for t in o.threads)))
    assert [got[n] for n in names] == reference_threads(fields)
    assert [(t["source"], t["offset"]) for t in o.threads] == [(s, off) for s, off, *_ in fields]
    root = _tid("<root@outputs.test>")
    for n in ("root", "reply", "reply-to-reply", "forward-with-references", "reply-without-message-id"):
        assert got[n] == root, n
    assert got["forward-without-headers"] == _tid("<fwd2@outputs.test>")
    # Replies to a message the archive lacks share a thread named after it.
    assert got["lost-parent-in-reply-to"] == got["lost-parent-references"] == _tid("<lost@outputs.test>")
    # Two lost roots joined by a reply: the smaller sha256 names the thread.
    joined = min(_tid("<gone1@outputs.test>"), _tid("<gone2@outputs.test>"))
    assert got["branch-one"] == got["branch-two"] == got["branches-joined"] == joined
    assert got["neither-header"] == _tid("<alone@outputs.test>")
    off = dict((n, off) for n, off, _ in _raw_messages())["no-message-id-no-parent"]
    assert got["no-message-id-no-parent"] == _tid("%s\0%d" % (source, off))
    assert got["cycle-a"] == got["cycle-b"]
    assert got["cycle-a"] in (_tid("<cycle-a@outputs.test>"), _tid("<cycle-b@outputs.test>"))
    # The id is what is between the brackets, comments around it aside.
    assert got["message-id-with-comment"] == got["reply-to-commented"] == _tid("<commented@outputs.test>")
    assert len(set(got.values())) == len(got) - 9


def test_the_generated_archive_is_the_generators():
    data, index = generated.build()
    assert OUTPUTS.read_bytes() == data, "run python python/tests/_outputs_archive.py"
    assert len(data) < 100_000
    assert len(index) == len({n for n, _ in index})


# --- Parquet: schema, pyarrow, DuckDB, polars --------------------------------


def _parts(o):
    return sorted((o.pq_dir / "messages").glob("part-*.parquet"))


@pytest.mark.parametrize("name", ARCHIVES)
def test_parquet_schema_is_mimeflow_schema(outputs, name):
    pa = client("pyarrow")
    import pyarrow.parquet as pq

    o = outputs(name)
    want = pa.schema(mimeflow.schema())
    version = str(mimeflow.schema().version).encode()
    files = [o.pq_file] + _parts(o)
    assert len(files) >= 2
    for f in files:
        assert pq.read_schema(f).equals(want, check_metadata=True), f
        meta = pq.ParquetFile(f).metadata
        assert meta.metadata[b"mimeflow.schema_version"] == version
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                assert meta.row_group(g).column(c).compression == "ZSTD"
    # attachments and threads: the types docs/schema.md gives them.
    meta = {b"mimeflow.schema_version": version}
    attachments = pa.schema(
        [
            pa.field("source", pa.string(), nullable=False),
            pa.field("offset", pa.uint64(), nullable=False),
            pa.field("section", pa.string(), nullable=False),
            pa.field("filename", pa.string()),
            pa.field("content_type", pa.string(), nullable=False),
            pa.field("size", pa.uint64(), nullable=False),
            pa.field("sha256", pa.string(), nullable=False),
            pa.field("path", pa.string()),
        ],
        metadata=meta,
    )
    threads = pa.schema(
        [
            pa.field("source", pa.string(), nullable=False),
            pa.field("offset", pa.uint64(), nullable=False),
            pa.field("thread_id", pa.string(), nullable=False),
        ],
        metadata=meta,
    )
    for f in [o.pq_file.with_name("out.attachments.parquet")] + sorted(
        (o.pq_dir / "attachments").glob("part-*.parquet")
    ):
        assert pq.read_schema(f).equals(attachments, check_metadata=True), f
    for f in (o.pq_file.with_name("out.threads.parquet"), o.pq_dir / "threads.parquet"):
        assert pq.read_schema(f).equals(threads, check_metadata=True), f
    # Part N of messages and of attachments cover the same messages.
    for m, a in zip(_parts(o), sorted((o.pq_dir / "attachments").glob("part-*.parquet"))):
        keys = set(_keys(pq.read_table(m, columns=["source", "offset"])))
        assert set(_keys(pq.read_table(a, columns=["source", "offset"]))) <= keys


SCALARS = ("message_id", "in_reply_to", "subject", "from_name", "from_address", "date",
           "date_offset", "date_raw", "received", "list_id", "flags", "size",
           "attachment_count", "body_text", "body_html")
LISTS = ("references", "to", "cc", "bcc", "reply_to")


@pytest.mark.parametrize("name", ARCHIVES)
def test_sqlite_values_are_the_jsonl_values(outputs, name):
    """SQLite's columns: integers for dates, JSON text for lists."""
    o = outputs(name)
    with o.connect() as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM messages ORDER BY id").fetchall()
    assert len(rows) == len(o.records)
    for row, rec in zip(rows, o.records):
        for k in SCALARS:
            assert row[k] == rec[k], (k, rec["offset"])
        for k in LISTS:
            assert json.loads(row[k]) == rec[k], (k, rec["offset"])
        assert row["unparseable"] == int(rec["unparseable"])
        assert json.loads(row["gmail_labels"]) == rec.get("gmail_labels", [])
        assert row["gmail_thread_id"] == rec.get("gmail_thread_id")
        assert json.loads(row["defects"]) == rec["defect_list"]
        assert json.loads(row["headers"]) == rec["header_list"]
        assert row["dkim"] is None


@pytest.mark.parametrize("name", ARCHIVES)
def test_parquet_values_are_the_jsonl_values(outputs, name):
    o = outputs(name)
    t = o.parquet("messages", folder=True).to_pylist()
    assert len(t) == len(o.records)
    for row, rec in zip(t, o.records):
        for k in ("message_id", "in_reply_to", "references", "subject", "from_name",
                  "from_address", "date_raw", "date_offset", "list_id", "flags", "size",
                  "attachment_count", "body_text", "body_html", "unparseable", "to", "cc",
                  "bcc", "reply_to"):
            assert row[k] == rec[k], (k, rec["offset"])
        # jsonl writes Gmail's fields on Gmail mail only.
        assert row["gmail_labels"] == rec.get("gmail_labels", [])
        assert row["gmail_thread_id"] == rec.get("gmail_thread_id")
        for k in ("date", "received"):
            want = rec[k]
            got = row[k]
            assert (got and int(got.timestamp())) == want, (k, rec["offset"])
        assert row["defects"] == rec["defect_list"]
        assert [[h["name"], h["value"]] for h in row["headers"]] == [
            [h["name"], h["value"]] for h in rec["header_list"]
        ]


@pytest.mark.parametrize("name", ["outputs", "text", "mixed"])
def test_duckdb_queries_the_parquet(outputs, name):
    duckdb = client("duckdb")
    o = outputs(name)
    con = duckdb.connect()
    for where in (str(o.pq_file), str(o.pq_dir / "messages" / "*.parquet")):
        src = "read_parquet('%s')" % where.replace("'", "''")
        assert con.execute("SELECT count(*) FROM %s" % src).fetchone()[0] == len(o.records)
        senders = dict(
            con.execute(
                "SELECT from_address, count(*) FROM %s GROUP BY from_address" % src
            ).fetchall()
        )
        want = {}
        for r in o.records:
            want[r["from_address"]] = want.get(r["from_address"], 0) + 1
        assert senders == want
        to = con.execute(
            'SELECT u.address, count(*) FROM (SELECT unnest("to") AS u FROM %s) GROUP BY 1' % src
        ).fetchall()
        want = {}
        for r in o.records:
            for a in r["to"]:
                want[a["address"]] = want.get(a["address"], 0) + 1
        assert dict(to) == want
        # Typed columns: a timestamp with zone, not text.
        kind = con.execute("SELECT typeof(date) FROM %s LIMIT 1" % src).fetchone()[0]
        assert kind == "TIMESTAMP WITH TIME ZONE"
    threads = con.execute(
        "SELECT count(DISTINCT t.thread_id) FROM read_parquet('%s') m "
        "JOIN read_parquet('%s') t USING (source, \"offset\")"
        % (o.pq_dir / "messages" / "*.parquet", o.pq_dir / "threads.parquet")
    ).fetchone()[0]
    assert threads == len({t["thread_id"] for t in o.threads})


@pytest.mark.parametrize("name", ["outputs", "text", "mixed"])
def test_polars_queries_the_parquet(outputs, name):
    pl = client("polars")
    o = outputs(name)
    for df in (
        pl.read_parquet(o.pq_file),
        pl.scan_parquet(str(o.pq_dir / "messages" / "*.parquet")).collect(),
    ):
        assert df.height == len(o.records)
        assert str(df.schema["date"]).startswith("Datetime")
        counts = df.group_by("from_address").len()
        want = {}
        for r in o.records:
            want[r["from_address"]] = want.get(r["from_address"], 0) + 1
        assert dict(zip(counts["from_address"], counts["len"])) == want
        cc = df.select(pl.col("cc").explode().struct.field("address")).drop_nulls()
        assert cc.height == sum(len(r["cc"]) for r in o.records)
        labels = df.select(pl.col("gmail_labels").explode()).drop_nulls()
        assert labels.height == sum(len(r.get("gmail_labels", [])) for r in o.records)


# --- SQLite: FTS5 with sqlite3, Datasette -----------------------------------

HTML_ID = "<html@outputs.test>"
CJK_ID = "<cjk@outputs.test>"


def test_fts_finds_a_word_only_in_a_base64_html_body(outputs):
    o = outputs("outputs")
    word = generated.HIDDEN_WORD
    raw = OUTPUTS.read_bytes()
    # Nowhere in the archive's bytes, in any case: only decoding finds it.
    assert word.encode() not in raw.lower()
    with o.connect() as db:
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'messages_fts'").fetchone()[0]
        assert 'content="messages"' in sql and "fts5" in sql.lower()
        hits = db.execute(
            "SELECT m.message_id, m.body_html IS NOT NULL FROM messages_fts "
            "JOIN messages m ON m.id = messages_fts.rowid WHERE messages_fts MATCH ?",
            (word,),
        ).fetchall()
        assert hits == [(HTML_ID, 1)]
        # The body is HTML-only: body_text is its text, without tags.
        text = db.execute("SELECT body_text FROM messages WHERE message_id = ?", (HTML_ID,)).fetchone()[0]
        assert word in text and "<b>" not in text and "Café & crème" in text
        # Names and addresses are indexed too (a decoded encoded-word name).
        hits = db.execute(
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'cc:山田太郎'"
        ).fetchone()[0]
        assert hits == sum(1 for r in o.records if any(a["name"] == "山田太郎" for a in r["cc"]))
        assert hits > 0
        assert db.execute("PRAGMA user_version").fetchone()[0] == mimeflow.schema().version
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not o.db.with_name("out.db-wal").exists()
    assert not o.db.with_name("out.db.partial").exists()


def test_trigram_finds_japanese_and_chinese_substrings(tmp_path):
    db = tmp_path / "tri.db"
    run("convert", OUTPUTS, "--to", "sqlite", "--fts-tokenizer", "trigram", db)
    plain = tmp_path / "uni.db"
    run("convert", OUTPUTS, "--to", "sqlite", plain)
    q = (
        "SELECT m.message_id FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
        "WHERE messages_fts MATCH ?"
    )
    with connect(db) as c:
        for needle in (generated.JAPANESE, generated.CHINESE, '"会議に"'):
            assert c.execute(q, (needle,)).fetchall() == [(CJK_ID,)], needle
        assert c.execute(q, (generated.HIDDEN_WORD[2:9],)).fetchall() == [(HTML_ID,)]
        sql = c.execute("SELECT sql FROM sqlite_master WHERE name = 'messages_fts'").fetchone()[0]
        assert "trigram" in sql
    # unicode61 reads a run of CJK characters as one word: no substring.
    with connect(plain) as c:
        assert c.execute(q, (generated.JAPANESE,)).fetchall() == []


def test_datasette_searches_with_no_configuration(outputs, tmp_path):
    client("datasette")
    from datasette.app import Datasette

    o = outputs("outputs")
    trigram = tmp_path / "tri.db"
    run("convert", OUTPUTS, "--to", "sqlite", "--fts-tokenizer", "trigram", trigram)

    async def ask():
        ds = Datasette([str(o.db), str(trigram)])
        if hasattr(ds, "invoke_startup"):
            await ds.invoke_startup()
        got = {"fts": await ds.get_database("out").fts_table("messages")}
        get = ds.client.get
        r = await get("/out/messages.json?_search=%s&_shape=objects&_col=message_id" % generated.HIDDEN_WORD)
        got["search"] = (r.status_code, [row["message_id"] for row in r.json()["rows"]])
        r = await get("/out/messages?_search=%s" % generated.HIDDEN_WORD)
        got["page"] = (r.status_code, 'name="_search"' in r.text, HTML_ID.strip("<>") in r.text)
        r = await get("/out/messages.json?_facet=from_address&_size=0")
        got["facet"] = {
            f["value"]: f["count"] for f in r.json()["facet_results"]["from_address"]["results"]
        }
        r = await get("/out.json")
        got["tables"] = {t["name"]: (t["fts_table"], t["hidden"]) for t in r.json()["tables"]}
        r = await get("/tri/messages.json?_search=%s&_shape=objects&_col=message_id" % generated.JAPANESE)
        got["trigram"] = [row["message_id"] for row in r.json()["rows"]]
        return got

    got = asyncio.run(ask())
    # What Datasette detects by itself: messages_fts, content="messages".
    assert got["fts"] == "messages_fts"
    assert got["tables"]["messages"] == ("messages_fts", False)
    assert got["tables"]["messages_fts"][1] is True
    assert not any(got["tables"][t][1] for t in ("addresses", "attachments", "threads"))
    assert got["search"] == (200, [HTML_ID])
    assert got["page"] == (200, True, True)
    want = {}
    for r in o.records:
        if r["from_address"] is not None:
            want[r["from_address"]] = want.get(r["from_address"], 0) + 1
    assert got["facet"] == want
    assert got["trigram"] == [CJK_ID]


def test_raw_keeps_each_message(tmp_path, outputs):
    pa = client("pyarrow")
    import pyarrow.parquet as pq

    o = outputs("outputs")
    db, pq_file = tmp_path / "raw.db", tmp_path / "raw.parquet"
    run("convert", OUTPUTS, "--to", "sqlite", "--raw", db)
    run("convert", OUTPUTS, "--to", "parquet", "--raw", pq_file)
    want = [r["sha256"] for r in o.records]
    with connect(db) as c:
        rows = c.execute("SELECT sha256, raw FROM messages ORDER BY id").fetchall()
    assert [hashlib.sha256(raw).hexdigest() for _, raw in rows] == [sha for sha, _ in rows] == want
    t = pq.read_table(pq_file)
    assert t.schema.equals(pa.schema(mimeflow.schema(raw=True)), check_metadata=True)
    assert t.schema.field("raw").type == pa.large_binary()
    assert [hashlib.sha256(r).hexdigest() for r in t.column("raw").to_pylist()] == want
    # Without --raw the column is null (SQLite) or absent (Parquet).
    with o.connect() as c:
        assert c.execute("SELECT count(*) FROM messages WHERE raw IS NOT NULL").fetchone() == (0,)
    assert "raw" not in pq.read_schema(o.pq_file).names


# --- bad input --------------------------------------------------------------


def _by_id(o):
    return {r["message_id"]: r for r in o.records}


def test_bad_input_still_gets_its_row(outputs):
    o = outputs("outputs")
    raw = {name: data for name, _, data in _raw_messages()}
    offsets = {name: off for name, off, _ in _raw_messages()}
    with o.connect() as db:
        db.row_factory = sqlite3.Row
        rows = {r["offset"]: r for r in db.execute('SELECT * FROM messages')}
    pq = {r["offset"]: r for r in o.parquet("messages", folder=False).to_pylist()}
    # The message without a header: raw fields, flagged, counted.
    off = offsets["unparseable"]
    want_sha = hashlib.sha256(raw["unparseable"]).hexdigest()
    assert rows[off]["unparseable"] == 1 and rows[off]["sha256"] == want_sha
    assert pq[off]["unparseable"] is True and pq[off]["sha256"] == want_sha
    assert rows[off]["size"] == len(raw["unparseable"])
    # A header not valid in its charset: U+FFFD, the rest kept.
    off = offsets["bad-charset-header"]
    for subject in (rows[off]["subject"], pq[off]["subject"], _by_id(o)["<badcharset@outputs.test>"]["subject"]):
        assert subject.startswith("Invalid caf") and subject.endswith(" ok bytes")
        assert "\ufffd" in subject
    headers = dict((h["name"], h["value"]) for h in pq[off]["headers"])
    assert "\ufffd" in headers["subject"]
    # Raw 8-bit bytes in a header (no charset declared): read as
    # windows-1252, the same in every output, never dropped.
    off = offsets["raw-8bit-header"]
    rec = _by_id(o)["<raw8@outputs.test>"]
    for r in (rows[off], pq[off], rec):
        assert r["subject"].startswith("Caf") and r["subject"].endswith(" raw bytes")
        assert len(r["subject"]) == len("Café ÿþ raw bytes")
        assert r["from_name"].startswith("Jos") and r["from_address"] == "jose@example.es"
    assert rows[off]["subject"] == pq[off]["subject"] == rec["subject"]
    # A Date that does not parse: null date, date_raw kept.
    off = offsets["bad-date"]
    text = "the day after tomorrow, around noon"
    assert rows[off]["date"] is None and rows[off]["date_raw"] == text
    assert pq[off]["date"] is None and pq[off]["date_raw"] == text
    assert rows[off]["date_offset"] is None
    # ... and one that does: UTC seconds and the offset it was written in.
    off = offsets["root"]
    assert rows[off]["date"] == 1704182400 and rows[off]["date_offset"] == 120
    assert int(pq[off]["date"].timestamp()) == 1704182400
    # received: the topmost Received field's date, else the From_ line's
    # (read as UTC).
    assert rows[offsets["last"]]["received"] == 1704967500
    assert rows[offsets["root"]]["received"] == 1704067200
    assert rows[offsets["raw-8bit-header"]]["received"] == 1704801600
    assert int(pq[offsets["last"]]["received"].timestamp()) == 1704967500
    # Every message is a row.
    assert len(rows) == len(pq) == len(raw)


def test_attachments_in_every_output(outputs):
    o = outputs("outputs")
    with o.connect() as db:
        got = db.execute(
            'SELECT a.source, a."offset", section, filename, content_type, a.size, a.sha256 '
            "FROM attachments a JOIN messages m ON m.id = a.message AND m.source = a.source "
            'AND m."offset" = a."offset" ORDER BY a.rowid'
        ).fetchall()
        addresses = db.execute("SELECT count(*) FROM addresses WHERE role = 'to'").fetchone()[0]
    assert addresses == sum(len(r["to"]) for r in o.records)
    cols = ["source", "offset", "section", "filename", "content_type", "size", "sha256"]
    for folder in (False, True):
        t = o.parquet("attachments", folder)
        assert list(zip(*(t.column(c).to_pylist() for c in cols))) == got
    assert [g[3:] for g in got] == [
        ("report.pdf", "application/pdf", len(generated.PDF), hashlib.sha256(generated.PDF).hexdigest())
    ]
    assert [g[2] for g in got] == ["2"]


@pytest.mark.parametrize("name", ["outputs", "mixed"])
def test_attachments_dir_paths_name_the_files(tmp_path, outputs, name):
    """With ``--attachments DIR`` the path column names each attachment's
    file under DIR, whose bytes are the row's sha256 and size."""
    client("pyarrow")
    import pyarrow.parquet as pq

    o = outputs(name)
    db, pq_file = tmp_path / "a.db", tmp_path / "a.parquet"
    run("convert", o.src, "--to", "sqlite", "--attachments", tmp_path / "sq", db)
    run("convert", o.src, "--to", "parquet", "--attachments", tmp_path / "pq", pq_file)
    with connect(db) as c:
        rows = c.execute(
            "SELECT section, filename, size, sha256, path FROM attachments ORDER BY rowid"
        ).fetchall()
    t = pq.read_table(tmp_path / "a.attachments.parquet")
    cols = ["section", "filename", "size", "sha256", "path"]
    assert list(zip(*(t.column(c).to_pylist() for c in cols))) == rows
    assert rows, "no attachments"
    with o.connect() as c:
        plain = c.execute("SELECT section, filename, size, sha256 FROM attachments ORDER BY rowid").fetchall()
    assert [r[:4] for r in rows] == plain
    for folder in ("sq", "pq"):
        for _, _, size, sha, path in rows:
            data = (tmp_path / folder / path).read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha)


# --- every source kind ------------------------------------------------------


def test_every_source_kind(tmp_path, outputs):
    pa = client("pyarrow")
    import pyarrow.parquet as pq

    o = outputs("outputs")
    want = sorted(r["sha256"] for r in o.records)
    plain = OUTPUTS.read_bytes()
    gz = tmp_path / "outputs.mbox.gz"
    gz.write_bytes(gzip.compress(plain))
    xz = tmp_path / "outputs.mbox.xz"
    xz.write_bytes(lzma.compress(plain))
    crlf = tmp_path / "crlf.mbox"
    crlf.write_bytes(plain.replace(b"\n", b"\r\n"))
    maildir, eml = tmp_path / "maildir", tmp_path / "eml"
    mimeflow.convert(OUTPUTS, maildir, to="maildir")
    mimeflow.convert(OUTPUTS, eml, to="eml")
    by_id = {r["message_id"]: r for r in o.records if r["message_id"]}
    thread_of = {r["message_id"]: t["thread_id"] for r, t in zip(o.records, o.threads) if r["message_id"]}
    for src in (gz, xz, crlf, maildir, eml):
        db, pq_dir = tmp_path / (src.name + ".db"), tmp_path / (src.name + ".parts")
        run("convert", src, "--to", "sqlite", db)
        run("convert", src, "--to", "parquet", pq_dir)
        with connect(db) as c:
            got = c.execute("SELECT sha256, message_id, subject, thread_id FROM messages").fetchall()
            hits = c.execute(
                "SELECT message_id FROM messages_fts JOIN messages ON messages.id = messages_fts.rowid "
                "WHERE messages_fts MATCH ?", (generated.HIDDEN_WORD,)
            ).fetchall()
        assert hits == [(HTML_ID,)], src.name
        assert len(got) == len(want), src.name
        for sha, mid, subject, thread in got:
            if mid is not None:
                assert subject == by_id[mid]["subject"], (src.name, mid)
                assert thread == thread_of[mid], (src.name, mid)
        if src is not crlf:
            assert sorted(g[0] for g in got) == want, src.name
        t = pq.read_table(sorted((pq_dir / "messages").glob("*.parquet")))
        assert sorted(t.column("sha256").to_pylist()) == sorted(g[0] for g in got), src.name
        assert t.schema.equals(pa.schema(mimeflow.schema()), check_metadata=True)
        if src in (gz, xz):
            # A compressed archive keeps the plain archive's keys.
            assert [(r["offset"], r["sha256"]) for r in o.records] == list(
                zip(t.column("offset").to_pylist(), t.column("sha256").to_pylist())
            )
        elif src in (maildir, eml):
            assert all(s.startswith(str(src)) for s in t.column("source").to_pylist())
            assert set(t.column("offset").to_pylist()) == {0}
        if src is maildir:
            # --update keys on sha256, whatever the source: nothing is new.
            stats = mimeflow.convert(OUTPUTS, db, to="sqlite", update=True)
            assert (stats["written"], stats["skipped"]) == (0, len(want))
    # Python's convert writes the same Parquet file and database rows as the CLI.
    pq_file = tmp_path / "py.parquet"
    mimeflow.convert(OUTPUTS, pq_file, to="parquet")
    assert pq.read_table(pq_file).equals(pq.read_table(o.pq_file))
    db = tmp_path / "py.db"
    stats = mimeflow.convert(OUTPUTS, db, to="sqlite")
    assert stats["written"] == len(want)
    with connect(db) as c, o.connect() as cli_db:
        q = "SELECT source, \"offset\", sha256, subject, body_text, thread_id FROM messages ORDER BY id"
        assert c.execute(q).fetchall() == cli_db.execute(q).fetchall()


# --- --update and --resume --------------------------------------------------


def _prefix(n):
    """outputs.mbox's first n messages."""
    data, index = generated.build()
    return data[: index[n][1]]


def test_update_adds_only_new_messages(tmp_path, outputs):
    o = outputs("outputs")
    src = tmp_path / "inbox.mbox"
    first = 12
    src.write_bytes(_prefix(first))
    db = tmp_path / "inbox.db"
    stats = mimeflow.convert(src, db, to="sqlite")
    assert stats["written"] == first
    with connect(db) as c:
        assert c.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?",
                         (generated.HIDDEN_WORD,)).fetchone() == (0,)
    # The same mailbox, grown: only its new mail is added (by sha256).
    src.write_bytes(OUTPUTS.read_bytes())
    p = run("convert", src, "--to", "sqlite", "--update", db)
    assert "%d written, %d skipped" % (len(o.records) - first, first) in p.stdout, p.stdout
    stats = mimeflow.convert(src, db, to="sqlite", update=True)
    assert (stats["written"], stats["skipped"]) == (0, len(o.records))
    fresh = tmp_path / "fresh.db"
    run("convert", src, "--to", "sqlite", fresh)
    q = 'SELECT "offset", sha256, thread_id FROM messages ORDER BY "offset"'
    with connect(db) as c, connect(fresh) as f:
        assert c.execute(q).fetchall() == f.execute(q).fetchall()
        assert c.execute("SELECT count(*) FROM threads").fetchone()[0] == len(o.records)
        # The new rows are in the full-text index, once.
        for word in (generated.HIDDEN_WORD, "Friday"):
            sql = "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid"
            ids = lambda db_: [r[0] for r in db_.execute(sql, (word,))]  # noqa: E731
            assert len(ids(c)) == len(ids(f)) > 0, word
        # Raises if the index and its content table disagree.
        c.execute("INSERT INTO messages_fts(messages_fts) VALUES('integrity-check')")
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def _file_state(db):
    return db.read_bytes(), sorted(p.name for p in db.parent.iterdir())


@pytest.mark.parametrize("what", ["version", "foreign"])
def test_update_refuses_another_database(tmp_path, what):
    db = tmp_path / "old.db"
    run("convert", OUTPUTS, "--to", "sqlite", db)
    with connect(db) as c:
        if what == "version":
            c.execute("PRAGMA user_version = %d" % (mimeflow.schema().version + 1))
        else:
            c.execute("PRAGMA application_id = 0")
    before = _file_state(db)
    p = run("convert", OUTPUTS, "--to", "sqlite", "--update", db, ok=False)
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    want = "schema version %d" % (mimeflow.schema().version + 1) if what == "version" else "not a database written by mimeflow"
    assert want in lines[0]
    # Refused before anything was written: not even the journal mode.
    assert _file_state(db) == before
    with pytest.raises(mimeflow.ConvertError):
        mimeflow.convert(OUTPUTS, db, to="sqlite", update=True)
    assert _file_state(db) == before


def _tiny_archive(path, n):
    """A gzip archive of n small messages: more than one streamed window
    (1024 messages each) at little cost."""
    lines = []
    for i in range(n):
        lines.append(
            "From x@example.org Mon Jan  1 00:00:00 2024\nFrom: u%d@example.org\n"
            "Message-ID: <t%d@tiny>\n%sSubject: tiny %d\n\nword%d\n\n"
            % (i % 7, i, "In-Reply-To: <t%d@tiny>\n" % (i // 2) if i else "", i, i)
        )
    path.write_bytes(gzip.compress("".join(lines).encode()))


def _kill_after_first_window(*args):
    """Starts ``convert ARGS`` paused after its first committed window and
    kills it there (SIGKILL: no cleanup runs)."""
    env = dict(os.environ, MIMEFLOW_TEST_PAUSE_AFTER_WINDOW="1", MIMEFLOW_TEST_PARQUET_PART_BYTES="20000")
    child = subprocess.Popen(
        [cli(), "-q", "-j1", "convert", *map(str, args)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        line = child.stderr.readline()
        assert "paused at window 1" in line, line
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stderr.close()


FTS_SQL = (
    'CREATE VIRTUAL TABLE messages_fts USING fts5(subject, from_name, from_address, "to", cc, bcc, '
    'body_text, content="messages", content_rowid="id")'
)


@pytest.mark.parametrize("to", ["sqlite", "parquet"])
def test_resume_after_a_kill(tmp_path, to):
    src = tmp_path / "tiny.mbox.gz"
    _tiny_archive(src, 2600)
    dest = tmp_path / ("out.db" if to == "sqlite" else "parts")
    _kill_after_first_window(src, "--to", to, dest)
    assert not dest.exists()
    p = run("convert", src, "--to", to, dest, ok=False)
    assert p.returncode == 1 and "--resume" in p.stderr
    if to == "sqlite":
        # A kill in the final pass can leave part of the index behind
        # (here: made by hand, empty); the resumed run builds it anew.
        with connect(tmp_path / "out.db.partial") as c:
            c.execute(FTS_SQL)
    run("convert", src, "--to", to, "--resume", dest)
    whole = tmp_path / ("whole.db" if to == "sqlite" else "whole")
    run("convert", src, "--to", to, whole)
    if to == "sqlite":
        q = 'SELECT "offset", sha256, subject, thread_id FROM messages ORDER BY id'
        with connect(dest) as a, connect(whole) as b:
            assert a.execute(q).fetchall() == b.execute(q).fetchall()
            for i in (0, 1500, 2599):
                hits = "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'word%d'" % i
                assert a.execute(hits).fetchone() == (1,), i
            a.execute("INSERT INTO messages_fts(messages_fts) VALUES('integrity-check')")
        assert not pathlib.Path(str(dest) + "-wal").exists()
    else:
        client("pyarrow")
        import pyarrow.parquet as pq

        parts = sorted((dest / "messages").glob("*.parquet"))
        assert len(parts) > 1
        a = pq.read_table(parts)
        b = pq.read_table(sorted((whole / "messages").glob("*.parquet")))
        assert a.equals(b)
        assert pq.read_table(dest / "threads.parquet").equals(pq.read_table(whole / "threads.parquet"))
    assert sorted(p.name for p in tmp_path.iterdir() if "mimeflow" in p.name or "partial" in p.name) == []


def test_update_killed_and_resumed_indexes_every_new_message(tmp_path):
    """A killed ``--update`` committed windows of new rows; resumed, the
    database holds each new message once, and the full-text index finds
    every one of them (it is kept up to date window by window)."""
    full = tmp_path / "tiny.mbox.gz"
    _tiny_archive(full, 2600)
    first = tmp_path / "first.mbox.gz"
    _tiny_archive(first, 100)
    db = tmp_path / "mail.db"
    run("convert", first, "--to", "sqlite", db)
    _kill_after_first_window(full, "--to", "sqlite", "--update", db)
    p = run("convert", full, "--to", "sqlite", "--update", db, ok=False)
    assert p.returncode == 1 and "--resume" in p.stderr
    p = run("convert", full, "--to", "sqlite", "--update", "--resume", db)
    whole = tmp_path / "whole.db"
    run("convert", full, "--to", "sqlite", whole)
    q = "SELECT sha256, subject FROM messages ORDER BY sha256"
    with connect(db) as a, connect(whole) as b:
        assert a.execute(q).fetchall() == b.execute(q).fetchall()
        for i in (0, 99, 100, 500, 2000, 2599):
            hits = "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'word%d'" % i
            assert a.execute(hits).fetchone() == (1,), i
        a.execute("INSERT INTO messages_fts(messages_fts) VALUES('integrity-check')")
        threads = 'SELECT sha256, thread_id FROM messages ORDER BY sha256'
        assert a.execute(threads).fetchall() == b.execute(threads).fetchall()
