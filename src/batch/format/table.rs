//! The query outputs (`sqlite`, `parquet`): formats that take rows
//! ([`crate::rows`]) rather than bytes. A worker turns each message into
//! its [`Rows`]; the in-order commit hands them to the run's [`TableSink`].

use crate::batch::BatchError;
use crate::rows::threads::{MessageKeys, ThreadIndex};
use crate::rows::{AttachmentRow, MessageRow};

/// One message's rows.
pub(crate) struct Rows {
    pub message: MessageRow,
    pub attachments: Vec<AttachmentRow>,
    /// The message's thread keys, made by the worker that made the row
    /// (sha256s, in parallel) rather than where rows are taken in order.
    pub thread_keys: MessageKeys,
    /// `--to sqlite`: the message's JSON text columns, made by the worker
    /// that made the row (in parallel) rather than at the in-order insert.
    #[cfg(feature = "sqlite")]
    pub sql_json: Option<([String; 8], Option<String>)>,
}

/// Where a table output's rows go, in archive order.
pub(crate) trait TableSink {
    /// Whether a message with this sha256 is already in the output
    /// (`--update`); such a message is counted as skipped.
    fn contains(&mut self, _sha256: &str) -> Result<bool, BatchError> {
        Ok(false)
    }

    /// Adds one message's rows.
    fn push(&mut self, rows: Rows) -> Result<(), BatchError>;

    /// The end of a window. Returns the output position to record in the
    /// run's state when everything pushed so far is durable (then the state
    /// is saved), or `None` when the format keeps rows back (a Parquet part
    /// still open): the saved state then stays at the last durable point.
    fn checkpoint(&mut self) -> Result<Option<u64>, BatchError>;

    /// The end of the run: threads, indexes, close. `threads` holds every
    /// message this run (and the run it resumes) pushed, for formats that
    /// do not read them back from their own output.
    fn finish(self: Box<Self>, threads: &mut ThreadIndex) -> Result<(), BatchError>;

    /// The run failed or was interrupted. Returns whether its output can
    /// be resumed; one that cannot has removed its own side files, and
    /// the run removes the rest (`DEST.partial` and the state).
    fn abandon(self: Box<Self>) -> bool {
        true
    }
}
