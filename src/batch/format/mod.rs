//! How a message is serialised into a single-file output: [`mbox`]
//! (mboxrd with From_ quoting) and [`jsonl`] (one JSON record per line).
//! Folder outputs (Maildir, `.eml`) hold the message's own bytes and need
//! no serialiser; [`super::publish`] writes them.

pub(crate) mod jsonl;
pub(crate) mod mbox;
