//! The floor under `mimeflow convert --to sqlite`: what SQLite itself costs
//! for the same database, so the CLI can be judged against it (issue 11:
//! within 1.3x, measured in the same run).
//!
//! Before the timer, the archive is split and parsed and every message
//! turned into its rows by the crate's own row code
//! ([`mimeflow::rows::message_row`], attachments hashed as `--to sqlite`
//! hashes them) and threaded ([`ThreadIndex`]), so each row goes in once
//! with its final thread id. Timed: a plain rusqlite loop over those rows
//! into a fresh file with the CLI's tables, settings and statements
//! ([`mimeflow::batch::SQLITE_SCHEMA`] and its siblings; the DDL is written
//! once), in one transaction, the JSON text of the list columns made on the
//! way as the CLI makes it; then the indexes, the FTS5 `rebuild`, and the
//! close (optimize; the WAL checkpoint and journal switch are no-ops now
//! that the settings name a rollback journal) the CLI
//! ends with. What the floor leaves out is the CLI's own work: reading
//! and parsing (in parallel with the inserts there), windows and their
//! state file, and the thread bookkeeping. The CLI builds a fresh
//! database's FTS5 index on a second thread during the load; the floor
//! keeps the plain `rebuild` the issue names.
//!
//! A plain binary (`harness = false`), not criterion: one run is seconds
//! long and `scripts/bench_outputs.sh` alternates it with the CLI.
//!
//! ```text
//! scripts/gen_archive.py text 100 /tmp/text.mbox
//! cargo bench --bench sqlite_floor --features sqlite -- /tmp/text.mbox
//! ```
//!
//! Prints one line of `key=value` fields: `messages`, `rows_s` (untimed
//! preparation), `json_s` (the JSON text alone, a separate pass), then the
//! timed `load_s`, `index_s`, `fts_s`, `close_s` and `floor_s` (their sum).
//! Without an archive (or without the `sqlite` feature) it says so and
//! exits 0, so `cargo bench` runs it harmlessly.

#[cfg(feature = "sqlite")]
fn main() {
    floor::main();
}

#[cfg(not(feature = "sqlite"))]
fn main() {
    eprintln!("sqlite_floor: skipped (needs --features sqlite or cli)");
}

#[cfg(feature = "sqlite")]
mod floor {
    use std::time::Instant;

    use bytes::Bytes;
    use mimeflow::batch::{
        sqlite_json_columns, SQLITE_FTS_COLUMNS, SQLITE_FTS_HASHSIZE, SQLITE_INDEXES,
        SQLITE_INSERT_ADDRESS, SQLITE_INSERT_ATTACHMENT, SQLITE_INSERT_MESSAGE,
        SQLITE_INSERT_THREAD, SQLITE_PRAGMAS, SQLITE_SCHEMA,
    };
    use mimeflow::mbox::{read, ReadOptions, Variant};
    use mimeflow::message::Message;
    use mimeflow::rows::threads::ThreadIndex;
    use mimeflow::rows::{message_row, AttachmentRow, MessageRow, Origin, RowOptions};
    use rusqlite::{params, Connection};

    struct Row {
        message: MessageRow,
        attachments: Vec<AttachmentRow>,
        thread_id: String,
    }

    /// Every message's rows, as `--to sqlite` makes them.
    fn rows(path: &str) -> Vec<Row> {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let data = Bytes::from(data);
        let opts = ReadOptions {
            variant: Some(Variant::Mboxrd),
            unquote_mboxo: false,
        };
        let row_opts = RowOptions {
            raw: false,
            hash_attachments: true,
        };
        let mut out = Vec::new();
        for e in read(&data, &opts) {
            let bytes = Bytes::copy_from_slice(&e.message);
            let msg = Message::parse(bytes.clone());
            let origin = Origin {
                source: path,
                offset: e.offset,
                length: e.length,
                envelope: Some(e.envelope),
                flags: None,
                row: Some(e.index),
            };
            let (message, attachments) = message_row(&origin, &bytes, Some(&msg), row_opts);
            out.push(Row {
                message,
                attachments,
                thread_id: String::new(),
            });
        }
        let mut threads = ThreadIndex::new();
        for r in &out {
            let m = &r.message;
            threads.push(
                &m.source,
                m.offset,
                m.message_id.as_deref(),
                m.in_reply_to.as_deref(),
                &m.references,
            );
        }
        let ids: Vec<String> = threads.finish().into_iter().map(|t| t.thread_id).collect();
        for (r, id) in out.iter_mut().zip(ids) {
            r.thread_id = id;
        }
        out
    }

    fn load(conn: &mut Connection, rows: &[Row]) -> rusqlite::Result<()> {
        let tx = conn.transaction()?;
        tx.execute_batch(SQLITE_SCHEMA)?;
        {
            let mut msg = tx.prepare(SQLITE_INSERT_MESSAGE)?;
            let mut thread = tx.prepare(SQLITE_INSERT_THREAD)?;
            let mut addr = tx.prepare(SQLITE_INSERT_ADDRESS)?;
            let mut att = tx.prepare(SQLITE_INSERT_ATTACHMENT)?;
            for r in rows {
                let m = &r.message;
                let ([references, to, cc, bcc, reply_to, labels, defects, headers], dkim) =
                    sqlite_json_columns(m);
                let id = msg.insert(params![
                    m.source,
                    m.offset as i64,
                    m.length as i64,
                    m.sha256,
                    m.row.map(|r| r as i64),
                    m.message_id,
                    m.in_reply_to,
                    references,
                    m.date,
                    m.date_offset,
                    m.date_raw,
                    m.received,
                    m.subject,
                    m.from_name,
                    m.from_address,
                    to,
                    cc,
                    bcc,
                    reply_to,
                    m.list_id,
                    labels,
                    m.gmail_thread_id,
                    m.flags,
                    m.size as i64,
                    m.attachment_count,
                    m.body_text,
                    m.body_html,
                    defects,
                    m.unparseable,
                    headers,
                    dkim,
                    r.thread_id,
                    None::<Vec<u8>>,
                ])?;
                thread.execute(params![id, m.source, m.offset as i64, r.thread_id])?;
                if let Some(a) = &m.from_address {
                    addr.execute(params![id, "from", 0, m.from_name, a])?;
                }
                for (role, list) in [
                    ("to", &m.to),
                    ("cc", &m.cc),
                    ("bcc", &m.bcc),
                    ("reply_to", &m.reply_to),
                ] {
                    for (i, a) in list.iter().enumerate() {
                        addr.execute(params![id, role, i as i64, a.name, a.address])?;
                    }
                }
                for a in &r.attachments {
                    att.execute(params![
                        id,
                        a.source,
                        a.offset as i64,
                        a.section,
                        a.filename,
                        a.content_type,
                        a.size as i64,
                        a.sha256,
                        a.path
                    ])?;
                }
            }
        }
        tx.commit()
    }

    pub fn main() {
        let archive = std::env::args()
            .skip(1)
            .find(|a| !a.starts_with("--"))
            .or_else(|| std::env::var("MIMEFLOW_FLOOR_ARCHIVE").ok());
        let Some(archive) = archive else {
            eprintln!(
                "sqlite_floor: skipped (pass an mbox archive: cargo bench --bench sqlite_floor --features sqlite -- ARCHIVE)"
            );
            return;
        };
        let t = Instant::now();
        let rows = rows(&archive);
        let rows_s = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let json: usize = rows
            .iter()
            .map(|r| {
                sqlite_json_columns(&r.message)
                    .0
                    .iter()
                    .map(String::len)
                    .sum::<usize>()
            })
            .sum();
        let json_s = t.elapsed().as_secs_f64();
        assert!(json > 0 || rows.is_empty());

        let scratch = tempfile::tempdir().expect("a scratch folder");
        let path = scratch.path().join("floor.db");
        let mut conn = Connection::open(&path).expect("open the database");
        conn.execute_batch(SQLITE_PRAGMAS).expect("settings");

        let t = Instant::now();
        load(&mut conn, &rows).expect("load");
        let load_s = t.elapsed().as_secs_f64();

        let t = Instant::now();
        conn.execute_batch(SQLITE_INDEXES).expect("indexes");
        let index_s = t.elapsed().as_secs_f64();

        let t = Instant::now();
        conn.execute_batch(&format!(
            "CREATE VIRTUAL TABLE messages_fts USING fts5({SQLITE_FTS_COLUMNS}, \
             content=\"messages\", content_rowid=\"id\", tokenize=\"unicode61\"); \
             INSERT INTO messages_fts(messages_fts, rank) VALUES('hashsize', {SQLITE_FTS_HASHSIZE}); \
             INSERT INTO messages_fts(messages_fts) VALUES('rebuild');"
        ))
        .expect("full-text index");
        let fts_s = t.elapsed().as_secs_f64();

        let t = Instant::now();
        conn.execute_batch(
            "PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;",
        )
        .expect("close");
        conn.close().map_err(|(_, e)| e).expect("close");
        let close_s = t.elapsed().as_secs_f64();

        let check = Connection::open(&path).expect("reopen");
        let n: i64 = check
            .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n as usize, rows.len(), "every row went in");
        println!(
            "messages={} rows_s={rows_s:.3} json_s={json_s:.3} load_s={load_s:.3} index_s={index_s:.3} \
             fts_s={fts_s:.3} close_s={close_s:.3} floor_s={:.3}",
            rows.len(),
            load_s + index_s + fts_s + close_s
        );
    }
}
