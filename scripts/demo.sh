#!/usr/bin/env bash
# The main job on the bundled sample data: builds the release CLI, converts
# the sample archive testdata/mbox/sample.mbox to a Maildir and back to mbox
# (checking that the messages come back byte for byte), then sends every
# file of testdata/base64/ through a Base64 round trip, all into ./demo-out/.
#
#   scripts/demo.sh [OUT_DIR]      (default: demo-out)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-demo-out}"

cargo build --release --quiet --features cli
bin=target/release/mimeflow
"$bin" --version
mkdir -p "$out/base64"

# Part 1: mbox -> Maildir -> mbox (each run prints its summary line).
rm -rf "$out/maildir" "$out/roundtrip.mbox" "$out/roundtrip.eml.d"
"$bin" count testdata/mbox/sample.mbox
"$bin" convert testdata/mbox/sample.mbox --to maildir "$out/maildir"
"$bin" convert "$out/maildir" --to mbox "$out/roundtrip.mbox"
# Same messages, same order: split both archives to .eml files and compare.
"$bin" -q split testdata/mbox/sample.mbox "$out/roundtrip.eml.d/original"
"$bin" -q split "$out/roundtrip.mbox" "$out/roundtrip.eml.d/back"
diff -r "$out/roundtrip.eml.d/original" "$out/roundtrip.eml.d/back"
echo "mbox -> maildir -> mbox: messages identical; Maildir in $out/maildir/"

# Query outputs: SQLite with full-text search, and Parquet.
rm -rf "$out/sample.db" "$out/sample.parquet" "$out"/sample.*.parquet "$out/sample.parquet.d"
"$bin" convert testdata/mbox/sample.mbox --to sqlite "$out/sample.db"
"$bin" -q convert testdata/mbox/sample.mbox --to parquet "$out/sample.parquet.d"
python3 - "$out/sample.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
hits = db.execute(
    "SELECT m.subject, m.from_address FROM messages_fts f JOIN messages m ON m.id = f.rowid"
    " WHERE messages_fts MATCH 'résumé OR café' ORDER BY m.date").fetchall()
for subject, sender in hits:
    print(f"  full-text hit: {subject!r} from {sender}")
assert hits, "the FTS5 index found nothing"
threads = db.execute("SELECT count(DISTINCT thread_id), count(*) FROM messages").fetchone()
print(f"sqlite: {threads[1]} messages in {threads[0]} threads; try: datasette {sys.argv[1]}")
PY
echo "parquet: $(ls "$out/sample.parquet.d/messages") in $out/sample.parquet.d/"

# Part 2: Base64 round trips.

for f in testdata/base64/*; do
    name=$(basename "$f")
    case "$name" in
    *.b64)
        # Already a MIME body (76-column CRLF lines): decode it, re-encode it the same way.
        "$bin" b64 decode "$f" -o "$out/base64/$name.bin"
        "$bin" b64 encode --crlf "$out/base64/$name.bin" -o "$out/base64/$name"
        cmp "$f" "$out/base64/$name"
        printf '%-26s decoded %8d bytes, re-encoded identically\n' "$name" "$(wc -c <"$out/base64/$name.bin")"
        ;;
    *)
        "$bin" b64 encode --crlf "$f" -o "$out/base64/$name.b64"
        "$bin" b64 decode "$out/base64/$name.b64" -o "$out/base64/$name"
        cmp "$f" "$out/base64/$name"
        printf '%-26s encoded to %8d bytes, decoded back identically\n' "$name" "$(wc -c <"$out/base64/$name.b64")"
        ;;
    esac
done
echo "round trips OK; results in $out/base64/"
