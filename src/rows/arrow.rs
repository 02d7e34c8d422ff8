//! The rows as Arrow record batches: the schema of `docs/schema.md` in
//! Arrow types (timestamps with zone, lists and structs, never JSON text),
//! and builders that turn [`MessageRow`]s and [`AttachmentRow`]s into
//! batches. Parquet files and Python's Arrow tables are written from these,
//! so they carry the same fields under the same names and types.
//!
//! Bodies and the raw message are `LargeUtf8`/`LargeBinary`: one message
//! can hold more than the 2 GiB a 32-bit offset reaches.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Int32Builder, LargeBinaryBuilder, LargeStringBuilder, ListBuilder,
    StringBuilder, StructBuilder, TimestampMicrosecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use super::threads::ThreadRow;
use super::{AttachmentRow, MessageRow, NameAddr, SCHEMA_VERSION};

/// The key of the schema version in an Arrow schema's (and so a Parquet
/// file's) metadata.
pub const VERSION_KEY: &str = "mimeflow.schema_version";

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Seconds to the microseconds of the timestamp columns: Parquet has no
/// second unit (a second timestamp would be written as a bare int64, which
/// readers show as a number), and microseconds are what pandas, DuckDB and
/// Spark use.
fn micros(seconds: i64) -> i64 {
    seconds.saturating_mul(1_000_000)
}

fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

fn struct_of(names: &[&str]) -> Fields {
    names
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, true))
        .collect()
}

fn struct_list(names: &[&str]) -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(struct_of(names)),
        true,
    )))
}

const NAME_ADDR: &[&str] = &["name", "address"];
const HEADER: &[&str] = &["name", "value"];
/// The fields of one DKIM signature's result ([`super::DkimRow`]).
pub const DKIM: &[&str] = &["d", "s", "a", "result", "reason", "key_source"];

fn metadata() -> HashMap<String, String> {
    HashMap::from([(VERSION_KEY.to_string(), SCHEMA_VERSION.to_string())])
}

/// The `messages` schema; `raw` adds the raw message column.
pub fn message_schema(raw: bool) -> SchemaRef {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    let u64f = |n: &str| Field::new(n, DataType::UInt64, false);
    let mut fields = vec![
        Field::new("source", DataType::Utf8, false),
        u64f("offset"),
        u64f("length"),
        Field::new("sha256", DataType::Utf8, false),
        Field::new("row", DataType::UInt64, true),
        s("message_id"),
        s("in_reply_to"),
        Field::new("references", text_list(), false),
        Field::new("date", utc(), true),
        Field::new("date_offset", DataType::Int32, true),
        s("date_raw"),
        Field::new("received", utc(), true),
        s("subject"),
        s("from_name"),
        s("from_address"),
        Field::new("to", struct_list(NAME_ADDR), false),
        Field::new("cc", struct_list(NAME_ADDR), false),
        Field::new("bcc", struct_list(NAME_ADDR), false),
        Field::new("reply_to", struct_list(NAME_ADDR), false),
        s("list_id"),
        Field::new("gmail_labels", text_list(), false),
        s("gmail_thread_id"),
        Field::new("flags", DataType::Utf8, false),
        u64f("size"),
        Field::new("attachment_count", DataType::UInt32, false),
        Field::new("body_text", DataType::LargeUtf8, true),
        Field::new("body_html", DataType::LargeUtf8, true),
        Field::new("defects", text_list(), false),
        Field::new("unparseable", DataType::Boolean, false),
        Field::new("headers", struct_list(HEADER), false),
        Field::new("dkim", struct_list(DKIM), true),
    ];
    if raw {
        fields.push(Field::new("raw", DataType::LargeBinary, true));
    }
    Arc::new(Schema::new_with_metadata(fields, metadata()))
}

/// The `attachments` schema.
pub fn attachment_schema() -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        vec![
            Field::new("source", DataType::Utf8, false),
            Field::new("offset", DataType::UInt64, false),
            Field::new("section", DataType::Utf8, false),
            Field::new("filename", DataType::Utf8, true),
            Field::new("content_type", DataType::Utf8, false),
            Field::new("size", DataType::UInt64, false),
            Field::new("sha256", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, true),
        ],
        metadata(),
    ))
}

/// The `threads` schema.
pub fn thread_schema() -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        vec![
            Field::new("source", DataType::Utf8, false),
            Field::new("offset", DataType::UInt64, false),
            Field::new("thread_id", DataType::Utf8, false),
        ],
        metadata(),
    ))
}

fn struct_list_builder(names: &[&str]) -> ListBuilder<StructBuilder> {
    ListBuilder::new(StructBuilder::from_fields(struct_of(names), 0)).with_field(Field::new(
        "item",
        DataType::Struct(struct_of(names)),
        true,
    ))
}

/// Appends one list of structs whose fields are all utf8, each item its
/// `N` fields in order.
fn push_structs<'a, const N: usize>(
    b: &mut ListBuilder<StructBuilder>,
    items: impl Iterator<Item = [Option<&'a str>; N]>,
) {
    let sb = b.values();
    for fields in items {
        for (i, x) in fields.into_iter().enumerate() {
            sb.field_builder::<StringBuilder>(i)
                .expect("utf8")
                .append_option(x);
        }
        sb.append(true);
    }
    b.append(true);
}

fn push_people(b: &mut ListBuilder<StructBuilder>, list: &[NameAddr]) {
    push_structs(
        b,
        list.iter()
            .map(|a| [a.name.as_deref(), Some(a.address.as_str())]),
    );
}

fn push_texts(b: &mut ListBuilder<StringBuilder>, list: &[String]) {
    for t in list {
        b.values().append_value(t);
    }
    b.append(true);
}

/// The `messages` batch of `rows`; `raw` as for [`message_schema`].
pub fn message_batch(rows: &[MessageRow], raw: bool) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let mut source = StringBuilder::new();
    let mut offset = UInt64Builder::with_capacity(n);
    let mut length = UInt64Builder::with_capacity(n);
    let mut sha = StringBuilder::new();
    let mut row = UInt64Builder::with_capacity(n);
    let mut message_id = StringBuilder::new();
    let mut in_reply_to = StringBuilder::new();
    let mut references = ListBuilder::new(StringBuilder::new());
    let mut date = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut date_offset = Int32Builder::with_capacity(n);
    let mut date_raw = StringBuilder::new();
    let mut received = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut subject = StringBuilder::new();
    let mut from_name = StringBuilder::new();
    let mut from_address = StringBuilder::new();
    let mut people: [ListBuilder<StructBuilder>; 4] =
        std::array::from_fn(|_| struct_list_builder(NAME_ADDR));
    let mut list_id = StringBuilder::new();
    let mut labels = ListBuilder::new(StringBuilder::new());
    let mut gm_thread = StringBuilder::new();
    let mut flags = StringBuilder::new();
    let mut size = UInt64Builder::with_capacity(n);
    let mut att = UInt32Builder::with_capacity(n);
    let mut body_text = LargeStringBuilder::new();
    let mut body_html = LargeStringBuilder::new();
    let mut defects = ListBuilder::new(StringBuilder::new());
    let mut unparseable = BooleanBuilder::with_capacity(n);
    let mut headers = struct_list_builder(HEADER);
    let mut dkim = struct_list_builder(DKIM);
    let mut raw_b = LargeBinaryBuilder::new();
    for r in rows {
        source.append_value(&r.source);
        offset.append_value(r.offset);
        length.append_value(r.length);
        sha.append_value(&r.sha256);
        row.append_option(r.row);
        message_id.append_option(r.message_id.as_deref());
        in_reply_to.append_option(r.in_reply_to.as_deref());
        push_texts(&mut references, &r.references);
        date.append_option(r.date.map(micros));
        date_offset.append_option(r.date_offset);
        date_raw.append_option(r.date_raw.as_deref());
        received.append_option(r.received.map(micros));
        subject.append_option(r.subject.as_deref());
        from_name.append_option(r.from_name.as_deref());
        from_address.append_option(r.from_address.as_deref());
        for (b, list) in people.iter_mut().zip([&r.to, &r.cc, &r.bcc, &r.reply_to]) {
            push_people(b, list);
        }
        list_id.append_option(r.list_id.as_deref());
        push_texts(&mut labels, &r.gmail_labels);
        gm_thread.append_option(r.gmail_thread_id.as_deref());
        flags.append_value(&r.flags);
        size.append_value(r.size);
        att.append_value(r.attachment_count);
        body_text.append_option(r.body_text.as_deref());
        body_html.append_option(r.body_html.as_deref());
        push_texts(&mut defects, &r.defects);
        unparseable.append_value(r.unparseable);
        push_structs(
            &mut headers,
            r.headers
                .iter()
                .map(|(k, v)| [Some(k.as_str()), Some(v.as_str())]),
        );
        match &r.dkim {
            Some(list) => push_structs(
                &mut dkim,
                list.iter().map(|x| {
                    [
                        Some(x.d.as_str()),
                        Some(x.s.as_str()),
                        Some(x.a.as_str()),
                        Some(x.result.as_str()),
                        Some(x.reason.as_str()),
                        x.key_source.as_deref(),
                    ]
                }),
            ),
            // Not verified: a null list, not an empty one (unsigned).
            None => dkim.append(false),
        }
        if raw {
            raw_b.append_option(r.raw.as_deref());
        }
    }
    let [mut to, mut cc, mut bcc, mut reply_to] = people;
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(source.finish()),
        Arc::new(offset.finish()),
        Arc::new(length.finish()),
        Arc::new(sha.finish()),
        Arc::new(row.finish()),
        Arc::new(message_id.finish()),
        Arc::new(in_reply_to.finish()),
        Arc::new(references.finish()),
        Arc::new(date.finish()),
        Arc::new(date_offset.finish()),
        Arc::new(date_raw.finish()),
        Arc::new(received.finish()),
        Arc::new(subject.finish()),
        Arc::new(from_name.finish()),
        Arc::new(from_address.finish()),
        Arc::new(to.finish()),
        Arc::new(cc.finish()),
        Arc::new(bcc.finish()),
        Arc::new(reply_to.finish()),
        Arc::new(list_id.finish()),
        Arc::new(labels.finish()),
        Arc::new(gm_thread.finish()),
        Arc::new(flags.finish()),
        Arc::new(size.finish()),
        Arc::new(att.finish()),
        Arc::new(body_text.finish()),
        Arc::new(body_html.finish()),
        Arc::new(defects.finish()),
        Arc::new(unparseable.finish()),
        Arc::new(headers.finish()),
        Arc::new(dkim.finish()),
    ];
    if raw {
        cols.push(Arc::new(raw_b.finish()));
    }
    RecordBatch::try_new(message_schema(raw), cols)
}

/// The `attachments` batch of `rows`.
pub fn attachment_batch(rows: &[AttachmentRow]) -> Result<RecordBatch, ArrowError> {
    let mut source = StringBuilder::new();
    let mut offset = UInt64Builder::new();
    let mut section = StringBuilder::new();
    let mut filename = StringBuilder::new();
    let mut ctype = StringBuilder::new();
    let mut size = UInt64Builder::new();
    let mut sha = StringBuilder::new();
    let mut path = StringBuilder::new();
    for a in rows {
        source.append_value(&a.source);
        offset.append_value(a.offset);
        section.append_value(&a.section);
        filename.append_option(a.filename.as_deref());
        ctype.append_value(&a.content_type);
        size.append_value(a.size);
        sha.append_value(&a.sha256);
        path.append_option(a.path.as_deref());
    }
    RecordBatch::try_new(
        attachment_schema(),
        vec![
            Arc::new(source.finish()),
            Arc::new(offset.finish()),
            Arc::new(section.finish()),
            Arc::new(filename.finish()),
            Arc::new(ctype.finish()),
            Arc::new(size.finish()),
            Arc::new(sha.finish()),
            Arc::new(path.finish()),
        ],
    )
}

/// The `threads` batch of `rows`.
pub fn thread_batch(rows: &[ThreadRow<'_>]) -> Result<RecordBatch, ArrowError> {
    let mut source = StringBuilder::new();
    let mut offset = UInt64Builder::new();
    let mut id = StringBuilder::new();
    for t in rows {
        source.append_value(t.source);
        offset.append_value(t.offset);
        id.append_value(&t.thread_id);
    }
    RecordBatch::try_new(
        thread_schema(),
        vec![
            Arc::new(source.finish()),
            Arc::new(offset.finish()),
            Arc::new(id.finish()),
        ],
    )
}

/// What the allocator adds to each heap block, roughly: glibc's 8-byte
/// header rounded to 16, mimalloc's size classes about the same.
const BLOCK_COST: usize = 16;

/// Heap bytes of one block of `capacity` bytes (none when empty).
fn block(capacity: usize) -> usize {
    if capacity == 0 {
        0
    } else {
        capacity + BLOCK_COST
    }
}

fn string(s: &String) -> usize {
    block(s.capacity())
}

fn opt(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, string)
}

/// A vector's own block plus what its elements hold.
fn list<T>(v: &Vec<T>, each: impl Fn(&T) -> usize) -> usize {
    block(v.capacity() * size_of::<T>()) + v.iter().map(each).sum::<usize>()
}

/// The heap a message row holds: every string and vector by capacity, plus
/// a block cost each, plus the row itself. This is what sizes row groups
/// (`ROW_GROUP_BYTES`), so it must count what the rows really hold: by
/// text lengths alone, a 2 GB mixed archive's 6,090 rows weighed 28 MB;
/// counted so, 42 MB.
pub fn weight(r: &MessageRow) -> usize {
    let people = |l: &Vec<NameAddr>| list(l, |a| string(&a.address) + opt(&a.name));
    let strings = |l: &Vec<String>| list(l, string);
    let dkim = r.dkim.as_ref().map_or(0, |v| {
        list(v, |x| {
            string(&x.d)
                + string(&x.s)
                + string(&x.a)
                + string(&x.result)
                + string(&x.reason)
                + opt(&x.key_source)
        })
    });
    size_of::<MessageRow>()
        + string(&r.source)
        + string(&r.sha256)
        + opt(&r.message_id)
        + opt(&r.in_reply_to)
        + strings(&r.references)
        + opt(&r.date_raw)
        + opt(&r.subject)
        + opt(&r.from_name)
        + opt(&r.from_address)
        + people(&r.to)
        + people(&r.cc)
        + people(&r.bcc)
        + people(&r.reply_to)
        + opt(&r.list_id)
        + strings(&r.gmail_labels)
        + opt(&r.gmail_thread_id)
        + string(&r.flags)
        + opt(&r.body_text)
        + opt(&r.body_html)
        + strings(&r.defects)
        + list(&r.headers, |(k, v)| string(k) + string(v))
        + dkim
        + r.raw.as_ref().map_or(0, |v| block(v.capacity()))
}

/// The heap an attachment row holds, counted as [`weight`] counts.
pub fn attachment_weight(a: &AttachmentRow) -> usize {
    size_of::<AttachmentRow>()
        + string(&a.source)
        + string(&a.section)
        + opt(&a.filename)
        + string(&a.content_type)
        + string(&a.sha256)
        + opt(&a.path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::rows::{message_row, Origin, RowOptions};

    #[test]
    fn a_batch_has_the_schema() {
        let src = b"From: A <a@x>\nTo: b@x\nSubject: hi\nReferences: <1@x>\n\nbody\n";
        let msg = Message::parse(src.to_vec());
        let origin = Origin {
            source: "s",
            offset: 0,
            length: src.len() as u64,
            envelope: None,
            flags: None,
            row: Some(0),
        };
        let (r, _) = message_row(&origin, src, Some(&msg), RowOptions::default());
        for raw in [false, true] {
            let b = message_batch(std::slice::from_ref(&r), raw).unwrap();
            assert_eq!(b.schema(), message_schema(raw));
            assert_eq!(b.num_rows(), 1);
        }
        assert_eq!(
            message_schema(false).metadata()[VERSION_KEY],
            SCHEMA_VERSION.to_string()
        );
    }
}
