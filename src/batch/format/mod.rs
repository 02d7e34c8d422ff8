//! How a message is serialised into a single-file output: [`mbox`]
//! (mboxrd with From_ quoting) and [`jsonl`] (one JSON record per line);
//! the query outputs take rows instead ([`table`]: SQLite and Parquet).
//! Folder outputs (Maildir, `.eml`) hold the message's own bytes and need
//! no serialiser; [`super::publish`] writes them.

pub(crate) mod jsonl;
pub(crate) mod mbox;
#[cfg(feature = "parquet")]
pub(crate) mod parquet;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
pub(crate) mod table;
