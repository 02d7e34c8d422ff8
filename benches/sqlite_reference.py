#!/usr/bin/env python3
"""A reference importer for ``mimeflow convert --to sqlite``: the same
tables, written with the standard library only (``mailbox``, ``email``,
``sqlite3`` with FTS5), the way a careful Python programmer would write it.

Issue 11 asks ``--to sqlite`` to run at least 5x this on the text archive
(``scripts/bench_outputs.sh`` times both). It is meant as a fair baseline,
not a strawman:

* ``mailbox.mbox`` finds the messages (its table of contents); their bytes
  are sliced from one ``mmap`` of the archive rather than re-read per
  message, and mboxrd's ``>From`` quoting is undone as mimeflow does;
* ``email`` parses with the ``compat32`` policy (``policy.default`` is
  several times slower) and decodes only what a row needs: every header
  through ``email.header.decode_header``, addresses through
  ``email.utils.getaddresses``, dates through ``parsedate_tz``, the text
  part (or an HTML-only message's HTML through ``html.parser``) through
  its charset, every attachment decoded to hash it as ``--to sqlite``
  does;
* rows are inserted with ``executemany`` in batches inside one
  transaction, with mimeflow's settings (a rollback journal,
  ``synchronous=OFF``, a 16 MiB cache, reads through ``mmap``: ``PRAGMAS``
  of ``src/batch/format/sqlite.rs``); indexes and the FTS5 index
  (``content="messages"``, one ``rebuild``, with mimeflow's ``FTS_HASHSIZE``)
  are built after the load, as mimeflow builds them;
* threads follow mimeflow's rule (``src/rows/threads.rs``: union-find
  over Message-ID, References and In-Reply-To, root = the smallest
  parentless sha256 key), computed before the rows are inserted so each
  row is written once;
* the rows wait in memory until the thread ids are known (a streaming
  importer would have to rewrite every row's ``thread_id`` at the end,
  which costs more);
* ``--jobs N`` parses in N worker processes (``multiprocessing``), the
  parent inserting in archive order, as mimeflow's ``-jN`` does.

Tables, columns and JSON text columns are those of ``docs/schema.md``
(``messages``, ``addresses``, ``attachments``, ``threads``,
``messages_fts``). Field details that the stdlib does differently (the
exact defect list, which parts count as attachments) may differ; counts,
keys and sha256 of the raw messages agree.

    python3 scripts/gen_archive.py text 100 /tmp/text.mbox
    python3 benches/sqlite_reference.py /tmp/text.mbox /tmp/ref.db [--jobs 2]

Prints ``messages=N seconds=S``.
"""

import argparse
import email
import email.header
import email.policy
import email.utils
import hashlib
import html.parser
import json
import mailbox
import mmap
import multiprocessing
import os
import re
import sqlite3
import sys
import time

SCHEMA = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, "offset" INTEGER NOT NULL,
    length INTEGER NOT NULL, sha256 TEXT NOT NULL, "row" INTEGER, message_id TEXT,
    in_reply_to TEXT, "references" TEXT NOT NULL, date INTEGER, date_offset INTEGER,
    date_raw TEXT, received INTEGER, subject TEXT, from_name TEXT, from_address TEXT,
    "to" TEXT NOT NULL, cc TEXT NOT NULL, bcc TEXT NOT NULL, reply_to TEXT NOT NULL,
    list_id TEXT, gmail_labels TEXT NOT NULL, gmail_thread_id TEXT, flags TEXT NOT NULL,
    size INTEGER NOT NULL, attachment_count INTEGER NOT NULL, body_text TEXT,
    body_html TEXT, defects TEXT NOT NULL, unparseable INTEGER NOT NULL,
    headers TEXT NOT NULL, dkim TEXT, thread_id TEXT, raw BLOB
);
CREATE TABLE addresses (
    message INTEGER NOT NULL REFERENCES messages(id), role TEXT NOT NULL,
    position INTEGER NOT NULL, name TEXT, address TEXT NOT NULL
);
CREATE TABLE attachments (
    message INTEGER NOT NULL REFERENCES messages(id), source TEXT NOT NULL,
    "offset" INTEGER NOT NULL, section TEXT NOT NULL, filename TEXT,
    content_type TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL, path TEXT
);
CREATE TABLE threads (
    message INTEGER PRIMARY KEY REFERENCES messages(id), source TEXT NOT NULL,
    "offset" INTEGER NOT NULL, thread_id TEXT NOT NULL
);
"""

INDEXES = """
CREATE INDEX messages_message_id ON messages(message_id);
CREATE INDEX messages_date ON messages(date);
CREATE INDEX messages_from_address ON messages(from_address);
CREATE INDEX messages_thread_id ON messages(thread_id);
CREATE INDEX messages_sha256 ON messages(sha256);
CREATE INDEX messages_key ON messages(source, "offset");
CREATE INDEX addresses_message ON addresses(message);
CREATE INDEX addresses_address ON addresses(address);
CREATE INDEX attachments_message ON attachments(message);
CREATE INDEX threads_thread_id ON threads(thread_id);
"""

FTS = """
CREATE VIRTUAL TABLE messages_fts USING fts5(subject, from_name, from_address, "to", cc,
    bcc, body_text, content="messages", content_rowid="id", tokenize="unicode61");
INSERT INTO messages_fts(messages_fts, rank) VALUES('hashsize', 8388608);
INSERT INTO messages_fts(messages_fts) VALUES('rebuild');
DELETE FROM messages_fts_config WHERE k = 'hashsize';
"""

INSERT_MESSAGE = (
    'INSERT INTO messages (id, source, "offset", length, sha256, "row", message_id, '
    'in_reply_to, "references", date, date_offset, date_raw, received, subject, from_name, '
    'from_address, "to", cc, bcc, reply_to, list_id, gmail_labels, gmail_thread_id, flags, '
    "size, attachment_count, body_text, body_html, defects, unparseable, headers, dkim, "
    "thread_id, raw) VALUES (" + ", ".join("?" * 31) + ", NULL, ?, NULL)"
)

UNQUOTE = re.compile(rb"^>(>*From )", re.M)
MSG_ID = re.compile(r"<[^<>\s]*>")


def decode(value):
    """A header value as text: RFC 2047 words decoded, bad bytes replaced."""
    if value is None:
        return None
    if isinstance(value, email.header.Header):
        parts = email.header.decode_header(value)
    else:
        if "=?" not in value:
            return " ".join(value.split()) if "\n" in value else value.strip()
        try:
            parts = email.header.decode_header(value)
        except Exception:
            return value
    out = []
    for text, charset in parts:
        if isinstance(text, bytes):
            # Raw 8-bit header bytes come back as "unknown-8bit": read them
            # as UTF-8, as mimeflow does.
            if charset in (None, "unknown-8bit"):
                charset = "utf-8"
            try:
                text = text.decode(charset, "replace")
            except LookupError:
                text = text.decode("utf-8", "replace")
        out.append(text)
    return "".join(out).strip()


def ids(value):
    if not value:
        return []
    found = MSG_ID.findall(value)
    return found or value.split()


def people(msg, name):
    values = msg.get_all(name)
    if not values:
        return []
    return [
        {"name": decode(n) or None, "address": a}
        for n, a in email.utils.getaddresses([decode(v) for v in values])
        if a
    ]


def when(text):
    if not text:
        return None
    t = email.utils.parsedate_tz(text)
    if t is None:
        return None
    try:
        return email.utils.mktime_tz(t), (t[9] or 0) // 60
    except (OverflowError, ValueError):
        return None


class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in ("br", "p", "div", "li", "tr"):
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_text(markup):
    p = _Text()
    p.feed(markup)
    p.close()
    return "".join(p.out).strip()


def part_text(part):
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("latin-1")


STATUS = {"R": "S", "A": "R", "F": "F", "D": "T"}


def row_of(source, index, offset, length, envelope, raw):
    """The message row (a tuple in INSERT_MESSAGE's order, id and thread id
    left out), its addresses, its attachments and its thread triple."""
    msg = email.message_from_bytes(raw)
    headers = [(k.lower(), decode(v)) for k, v in msg.items()]
    message_id = decode(msg.get("message-id")) or None
    irt = ids(decode(msg.get("in-reply-to")))
    refs = ids(decode(msg.get("references")))
    date_raw = decode(msg.get("date"))
    date = when(date_raw)
    received = None
    rec = msg.get("received")
    if rec and ";" in rec:
        d = when(rec.rsplit(";", 1)[1])
        received = d and d[0]
    if received is None and envelope:
        parts = envelope.split(None, 1)
        if len(parts) == 2:
            t = email.utils.parsedate_tz(parts[1])
            if t is not None:
                received = email.utils.mktime_tz(t[:9] + (0,))
    frm = people(msg, "from")
    lists = {r: people(msg, h) for r, h in (("to", "to"), ("cc", "cc"), ("bcc", "bcc"), ("reply_to", "reply-to"))}
    list_id = decode(msg.get("list-id"))
    if list_id and "<" in list_id and ">" in list_id:
        list_id = list_id[list_id.rfind("<") + 1 : list_id.rfind(">")]
    labels = [l.strip().strip('"') for l in (decode(msg.get("x-gmail-labels")) or "").split(",") if l.strip()]
    flags = "".join(sorted({STATUS[c] for c in (msg.get("status", "") + msg.get("x-status", "")) if c in STATUS}))
    text = html = None
    attachments = []
    section = 0
    for part in msg.walk():
        if part.is_multipart():
            continue
        section += 1
        ctype = part.get_content_type()
        filename = part.get_filename()
        if filename or part.get_content_disposition() == "attachment":
            data = part.get_payload(decode=True) or b""
            attachments.append((source, offset, str(section), decode(filename), ctype, len(data), hashlib.sha256(data).hexdigest(), None))
        elif ctype == "text/plain" and text is None:
            text = part_text(part)
        elif ctype == "text/html" and html is None:
            html = part_text(part)
    if text is None and html is not None:
        text = html_text(html)
    defects = [type(d).__name__ for p in msg.walk() for d in p.defects]
    row = (
        source, offset, length, hashlib.sha256(raw).hexdigest(), index, message_id,
        irt[0] if irt else None, json.dumps(refs),
        date[0] if date else None, date[1] if date else None, date_raw, received,
        decode(msg.get("subject")),
        frm[0]["name"] if frm else None, frm[0]["address"] if frm else None,
        json.dumps(lists["to"]), json.dumps(lists["cc"]), json.dumps(lists["bcc"]),
        json.dumps(lists["reply_to"]), list_id, json.dumps(labels),
        decode(msg.get("x-gm-thrid")), flags, len(raw), len(attachments), text, html,
        json.dumps(defects), int(not headers),
        json.dumps([{"name": k, "value": v} for k, v in headers]),
    )
    addresses = [("from", 0, f["name"], f["address"]) for f in frm[:1]]
    for role, lst in lists.items():
        addresses += [(role, i, a["name"], a["address"]) for i, a in enumerate(lst)]
    return row, addresses, attachments, (message_id, irt[0] if irt else None, refs)


def key_of(text):
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()[:16]


def thread_ids(triples, keys):
    """mimeflow's thread rule over (message_id, in_reply_to, references)."""
    node, names, link, has_parent = {}, [], [], []

    def get(k):
        n = node.get(k)
        if n is None:
            n = node[k] = len(names)
            names.append(k)
            link.append(n)
            has_parent.append(False)
        return n

    def find(n):
        while link[n] != n:
            link[n] = link[link[n]]
            n = link[n]
        return n

    own = []
    for (mid, irt, refs), (source, offset) in zip(triples, keys):
        n = get(key_of(mid) if mid else key_of("%s\0%d" % (source, offset)))
        own.append(n)
        for p in refs + ([irt] if irt else []):
            if p and p != mid:
                pn = get(key_of(p))
                has_parent[n] = True
                a, b = find(n), find(pn)
                if a != b:
                    link[max(a, b)] = min(a, b)
    root, anyk = {}, {}
    for n, k in enumerate(names):
        r = find(n)
        if r not in anyk or k < anyk[r]:
            anyk[r] = k
        if not has_parent[n] and (r not in root or k < root[r]):
            root[r] = k
    return [(root.get(find(n)) or anyk[find(n)])[:8].hex() for n in own]


_DATA = None


def _init(path):
    global _DATA
    f = open(path, "rb")
    _DATA = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _parse(job):
    source, index, start, stop, length = job
    # mailbox's stop leaves out the blank line before the next From_ line.
    chunk = _DATA[start:stop]
    nl = chunk.find(b"\n")
    envelope = chunk[5:nl].rstrip(b"\r").decode("latin-1")
    raw = UNQUOTE.sub(rb"\1", chunk[nl + 1 :])
    return row_of(source, index, start, length, envelope, raw)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("archive")
    ap.add_argument("db")
    ap.add_argument("--jobs", type=int, default=1, help="parsing processes (default 1)")
    args = ap.parse_args()
    if os.path.exists(args.db):
        sys.exit("%s exists" % args.db)
    t0 = time.monotonic()
    box = mailbox.mbox(args.archive, create=False)
    box._generate_toc()  # the message boundaries; no message is read
    source = args.archive
    toc = [box._toc[k] for k in sorted(box._toc)]
    box.close()
    ends = [start for start, _ in toc[1:]] + [os.path.getsize(args.archive)]
    jobs = [(source, i, start, stop, end - start) for i, ((start, stop), end) in enumerate(zip(toc, ends))]
    if args.jobs > 1:
        pool = multiprocessing.Pool(args.jobs, _init, (args.archive,))
        parsed = pool.imap(_parse, jobs, chunksize=64)
    else:
        _init(args.archive)
        pool = None
        parsed = map(_parse, jobs)
    rows = list(parsed)
    if pool:
        pool.close()
        pool.join()
    threads = thread_ids([r[3] for r in rows], [(j[0], j[2]) for j in jobs])

    db = sqlite3.connect(args.db, isolation_level=None)
    db.executescript(
        "PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF; "
        "PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY; PRAGMA mmap_size = 2147418112;"
    )
    db.executescript(SCHEMA)
    db.execute("BEGIN")
    batch = 2000
    for b in range(0, len(rows), batch):
        part = rows[b : b + batch]
        tids = threads[b : b + batch]
        db.executemany(INSERT_MESSAGE, [(b + i + 1,) + r[0] + (t,) for i, (r, t) in enumerate(zip(part, tids))])
        db.executemany(
            'INSERT INTO threads (message, source, "offset", thread_id) VALUES (?, ?, ?, ?)',
            [(b + i + 1, r[0][0], r[0][1], t) for i, (r, t) in enumerate(zip(part, tids))],
        )
        db.executemany(
            "INSERT INTO addresses (message, role, position, name, address) VALUES (?, ?, ?, ?, ?)",
            [(b + i + 1,) + a for i, r in enumerate(part) for a in r[1]],
        )
        db.executemany(
            'INSERT INTO attachments (message, source, "offset", section, filename, content_type, '
            "size, sha256, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(b + i + 1,) + a for i, r in enumerate(part) for a in r[2]],
        )
    db.execute("COMMIT")
    db.executescript(INDEXES)
    db.executescript(FTS)
    db.executescript("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
    db.close()
    print("messages=%d seconds=%.3f" % (len(rows), time.monotonic() - t0))


if __name__ == "__main__":
    main()
