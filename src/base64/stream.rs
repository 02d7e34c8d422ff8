//! Streaming adapters: `io::Write` sinks that encode or decode whatever is
//! written through them, in bounded memory, with output identical to the
//! one-shot functions however the input is chunked (line state included).
//!
//! [`encode_stream`] and [`decode_stream`] pump a reader into a writer with
//! the same guarantees; the CLI runs on them.

use std::io::{self, Read, Write};
use std::mem::MaybeUninit;

#[cfg(feature = "parallel")]
use super::parallel::{decode_chunks_append, Split};
use super::{gcd, Base64, DecodeMode, DecodeState, Wrap};
use crate::error::{DecodeError, StreamError};

/// Input bytes buffered before a block is encoded (rounded to whole lines).
const ENCODE_BLOCK: usize = 192 * 1024;
/// Input bytes decoded per step.
const DECODE_BLOCK: usize = 256 * 1024;

/// An `io::Write` that Base64-encodes into an inner writer.
///
/// Memory is constant whatever the line width. A width whose lines come
/// out whole from one block (192 KiB of input, rounded to whole lines:
/// every width up to a quarter of a million columns, 76 included)
/// goes through the fused wrapped encoder a block at a time, each block
/// ending at a line end. A wider line (up to `usize::MAX` columns) spans
/// blocks: each block is encoded unwrapped and laid out against a column
/// counter carried from block to block, so a line never has to be held
/// whole (`-w 1000000001` on a pipe once held 750 MB of input per line).
///
/// Call [`EncoderWriter::finish`] to write the final quantum and line ending
/// and get the inner writer back; dropping the encoder finishes it too,
/// ignoring errors.
pub struct EncoderWriter<W: Write> {
    inner: Option<W>,
    codec: Base64,
    wrap: Wrap,
    /// How blocks are laid out in lines.
    layout: Layout,
    /// Input bytes per block: whole lines ([`Layout::WholeLines`]) or
    /// whole quanta ([`Layout::Columns`]).
    unit: usize,
    pending: Vec<u8>,
    out: Vec<u8>,
    /// Set when a write failed: the output is incomplete, so dropping the
    /// encoder must not append a final quantum that makes it look whole.
    failed: bool,
}

/// How [`EncoderWriter`] lays a block out in lines.
#[derive(Clone, Copy)]
enum Layout {
    /// Every block but the last is a whole number of lines (or `cols` is
    /// 0): the fused wrapped encoder does it all.
    WholeLines,
    /// Lines longer than a block: `col` characters of the current line
    /// are already written.
    Columns { col: usize },
}

/// Input bytes that fill whole lines of `cols` characters exactly (a whole
/// number of quanta too), if that is at most `most`.
fn whole_lines_unit(cols: usize, most: usize) -> Option<usize> {
    if cols == 0 {
        return Some(3);
    }
    // 4 / gcd(cols, 4) lines hold a multiple of 4 characters.
    let lines = 4 / gcd(cols, 4);
    let chars = cols.checked_mul(lines)?;
    Some(chars / 4 * 3).filter(|&n| n <= most)
}

impl<W: Write> EncoderWriter<W> {
    /// Encodes with `codec`, wrapping as `wrap` says (any width).
    pub fn new(inner: W, codec: Base64, wrap: Wrap) -> Self {
        let (layout, unit) = match whole_lines_unit(wrap.cols, ENCODE_BLOCK) {
            Some(line_unit) => (
                Layout::WholeLines,
                ENCODE_BLOCK.div_ceil(line_unit) * line_unit,
            ),
            None => (Layout::Columns { col: 0 }, ENCODE_BLOCK),
        };
        EncoderWriter {
            inner: Some(inner),
            codec,
            wrap,
            layout,
            unit,
            pending: Vec::with_capacity(unit),
            out: Vec::new(),
            failed: false,
        }
    }

    /// Encodes `block` (a whole unit, or the last bytes at the end) and
    /// writes it out.
    fn encode_block(&mut self, block: &[u8]) -> io::Result<()> {
        let result = match &mut self.layout {
            Layout::WholeLines => {
                self.out.clear();
                self.codec
                    .encode_wrapped_append(block, self.wrap, &mut self.out);
                self.inner
                    .as_mut()
                    .expect("writer used after finish")
                    .write_all(&self.out)
            }
            Layout::Columns { col } => {
                self.out.clear();
                self.codec.encode_append(block, &mut self.out);
                let inner = self.inner.as_mut().expect("writer used after finish");
                write_columns(inner, &self.out, self.wrap, col)
            }
        };
        self.failed |= result.is_err();
        result
    }

    /// Writes the last partial line and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.finish_inner()?;
        Ok(self.inner.take().expect("finish called once"))
    }

    fn finish_inner(&mut self) -> io::Result<()> {
        if self.inner.is_none() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.encode_block(&pending)?;
        if let Layout::Columns { col } = self.layout {
            // A line cut short by the end of the input still ends, as
            // every line does.
            if col > 0 {
                let inner = self.inner.as_mut().expect("present");
                let result = inner.write_all(self.wrap.line_ending.as_bytes());
                self.failed |= result.is_err();
                result?;
                self.layout = Layout::Columns { col: 0 };
            }
        }
        self.inner.as_mut().expect("present").flush()
    }
}

/// Writes `chars` in lines of `wrap.cols` (> 0) characters, `col` of the
/// current line being written already, ending each full line.
fn write_columns(
    inner: &mut impl Write,
    mut chars: &[u8],
    wrap: Wrap,
    col: &mut usize,
) -> io::Result<()> {
    while !chars.is_empty() {
        // `col < cols` always holds, so neither side can overflow.
        let take = (wrap.cols - *col).min(chars.len());
        inner.write_all(&chars[..take])?;
        chars = &chars[take..];
        *col += take;
        if *col == wrap.cols {
            inner.write_all(wrap.line_ending.as_bytes())?;
            *col = 0;
        }
    }
    Ok(())
}

impl<W: Write> Write for EncoderWriter<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let n = buf.len();
        if !self.pending.is_empty() {
            let take = (self.unit - self.pending.len()).min(buf.len());
            self.pending.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.pending.len() == self.unit {
                let block = std::mem::take(&mut self.pending);
                self.encode_block(&block)?;
                self.pending = block;
                self.pending.clear();
            }
        }
        // Whole units straight from the caller's buffer, no copy.
        while buf.len() >= self.unit {
            let (block, rest) = buf.split_at(self.unit);
            self.encode_block(block)?;
            buf = rest;
        }
        self.pending.extend_from_slice(buf);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Only whole blocks are written before the end; flush what is out.
        self.inner.as_mut().map_or(Ok(()), |w| w.flush())
    }
}

impl<W: Write> Drop for EncoderWriter<W> {
    fn drop(&mut self) {
        if !std::thread::panicking() && !self.failed {
            let _ = self.finish_inner();
        }
    }
}

/// An `io::Write` that Base64-decodes into an inner writer.
///
/// Invalid input makes `write` fail with `io::ErrorKind::InvalidData`
/// wrapping the [`DecodeError`] (with its absolute offset); call
/// [`DecoderWriter::finish`] to check the end of the input.
pub struct DecoderWriter<W: Write> {
    inner: W,
    state: DecodeState,
    out: Vec<MaybeUninit<u8>>,
}

impl<W: Write> DecoderWriter<W> {
    /// Decodes with `codec` in `mode`.
    pub fn new(inner: W, codec: Base64, mode: DecodeMode) -> Self {
        DecoderWriter {
            inner,
            state: codec.decode_state(codec.rules(mode)),
            out: vec![MaybeUninit::uninit(); DecodeState::max_output(DECODE_BLOCK) + 3],
        }
    }

    /// Checks the end of the input, writes the last bytes and returns the
    /// inner writer.
    pub fn finish(mut self) -> Result<W, StreamError> {
        let last = self.state.finish_buf(&mut self.out)?;
        self.inner.write_all(last)?;
        self.inner.flush()?;
        Ok(self.inner)
    }

    fn feed(&mut self, buf: &[u8]) -> Result<(), StreamError> {
        feed_all(&mut self.state, buf, &mut self.inner, &mut self.out).map(drop)
    }
}

impl<W: Write> Write for DecoderWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.feed(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads `reader` to its end and writes its encoding to `writer`; returns
/// the input bytes read.
pub fn encode_stream(
    reader: &mut impl Read,
    writer: &mut impl Write,
    codec: Base64,
    wrap: Wrap,
) -> io::Result<u64> {
    let mut enc = EncoderWriter::new(writer, codec, wrap);
    match pump(reader, ENCODE_BLOCK, |b| {
        enc.write_all(b).map_err(StreamError::Io)
    }) {
        Ok(n) => {
            enc.finish()?;
            Ok(n)
        }
        Err(e) => {
            // A failed read: the output stays visibly incomplete.
            enc.failed = true;
            Err(e.into())
        }
    }
}

/// Reads `reader` to its end and writes the decoded bytes to `writer`;
/// returns the bytes written. Errors carry the absolute input offset.
pub fn decode_stream(
    reader: &mut impl Read,
    writer: &mut impl Write,
    codec: Base64,
    mode: DecodeMode,
) -> Result<u64, StreamError> {
    let state = codec.decode_state(codec.rules(mode));
    decode_rest(state, &[], Some(reader), writer)
}

/// Feeds `src` to `state` a block at a time into `buf`, writing what it
/// decodes; returns the bytes written.
fn feed_all(
    state: &mut DecodeState,
    src: &[u8],
    writer: &mut impl Write,
    buf: &mut [MaybeUninit<u8>],
) -> Result<u64, StreamError> {
    let mut n = 0;
    for piece in src.chunks(DECODE_BLOCK) {
        let decoded = state.feed_buf(piece, buf)?;
        writer.write_all(decoded)?;
        n += decoded.len() as u64;
    }
    Ok(n)
}

/// Decodes the rest of an input on this thread: `head`, then what `reader`
/// still holds (`None`: it is at its end); checks the end of the input and
/// flushes. Returns the bytes written.
fn decode_rest(
    mut state: DecodeState,
    head: &[u8],
    reader: Option<&mut impl Read>,
    writer: &mut impl Write,
) -> Result<u64, StreamError> {
    let mut buf = vec![MaybeUninit::uninit(); DecodeState::max_output(DECODE_BLOCK) + 3];
    let mut total = feed_all(&mut state, head, writer, &mut buf)?;
    if let Some(reader) = reader {
        pump(reader, DECODE_BLOCK, |block| {
            total += feed_all(&mut state, block, writer, &mut buf)?;
            Ok(())
        })?;
    }
    let last = state.finish_buf(&mut buf)?;
    writer.write_all(last)?;
    writer.flush()?;
    Ok(total + last.len() as u64)
}

/// Input bytes per block of [`par_encode_stream`] and [`par_decode_stream`]
/// (encode rounds it up to whole lines).
///
/// Small on purpose. Reading from the page cache and encoding each run at
/// a few GB/s on one core, so encoding one block while the next is read is
/// most of what a second thread can give. Blocks of 8 MiB (the size at which
/// the one-shot encoder splits a buffer across threads) gave nothing: `b64
/// encode` of 64 MiB to /dev/null took 0.02-0.04 s at `-j2` against 0.02 s
/// at `-j1`, at 57.7 MB peak RSS against 20.5 MB (four buffers of fresh
/// memory). With 1 MiB blocks, 1 GiB to /dev/null encodes in 0.13-0.16 s
/// at `-j2` against 0.20-0.27 s at `-j1`, and decodes in 0.14-0.17 s
/// against 0.19-0.25 s, at 20-23 MB RSS (Zen 4, three runs each).
#[cfg(feature = "parallel")]
pub const PIPE_BLOCK: usize = 1 << 20;

/// [`encode_stream`] with its reading and writing overlapping the encoding:
/// the output is the same byte for byte.
///
/// Blocks of [`PIPE_BLOCK`] input bytes (whole lines) are encoded by one of
/// rayon's threads while the calling thread writes the previous block's
/// output and reads the next block. Memory is two input and two output
/// blocks. With fewer than two threads in the pool, or a width so wide
/// that no block holds a whole line, this is [`encode_stream`]. The calling
/// thread should not be one of the pool's: it does the I/O meanwhile.
#[cfg(feature = "parallel")]
pub fn par_encode_stream(
    reader: &mut impl Read,
    writer: &mut impl Write,
    codec: Base64,
    wrap: Wrap,
) -> io::Result<u64> {
    let unit = whole_lines_unit(wrap.cols, PIPE_BLOCK);
    let Some(unit) = unit.filter(|_| rayon::current_num_threads() >= 2) else {
        return encode_stream(reader, writer, codec, wrap);
    };
    let block = PIPE_BLOCK.div_ceil(unit) * unit;
    let (mut cur, mut next) = (vec![0u8; block], vec![0u8; block]);
    let (mut out, mut prev_out) = (Vec::new(), Vec::new());
    let mut n = fill(reader, &mut cur)?;
    let mut total = n as u64;
    loop {
        // Every block but the last is whole lines, so blocks encoded apart
        // join into the one-shot encoding (as in `EncoderWriter`).
        let last = n < block;
        let (read, wrote) = rayon::in_place_scope(|s| {
            let (src, out) = (&cur[..n], &mut out);
            s.spawn(move |_| {
                out.clear();
                codec.encode_wrapped_append(src, wrap, out);
            });
            let wrote = writer.write_all(&prev_out);
            let read = match (&wrote, last) {
                (Ok(()), false) => fill(reader, &mut next),
                _ => Ok(0),
            };
            (read, wrote)
        });
        // A failed write or read returns before the last block is written:
        // the output stays visibly incomplete.
        wrote?;
        let m = read?;
        std::mem::swap(&mut out, &mut prev_out);
        if last {
            writer.write_all(&prev_out)?;
            writer.flush()?;
            return Ok(total);
        }
        std::mem::swap(&mut cur, &mut next);
        n = m;
        total += m as u64;
    }
}

/// [`decode_stream`] with its reading and writing overlapping the decoding,
/// which is split across rayon's threads: the output, and the offset of any
/// error, are those of [`decode_stream`].
///
/// Input of at least a block whose first line is a regular Base64 line
/// (or, in the strict mode, any such input) is decoded in blocks of
/// [`PIPE_BLOCK`] bytes cut at chunk starts (see
/// [`super::parallel::Split`]) by the pool, while the calling thread writes
/// the previous block's output and reads the next block. The first block
/// with an irregular chunk (padding, an error, a line of another length) is
/// decoded again on the calling thread, and so is the rest of the input, as
/// [`decode_stream`] would. The last bytes (less than a chunk) are decoded
/// on the calling thread too.
#[cfg(feature = "parallel")]
pub fn par_decode_stream(
    reader: &mut impl Read,
    writer: &mut impl Write,
    codec: Base64,
    mode: DecodeMode,
) -> Result<u64, StreamError> {
    if rayon::current_num_threads() < 2 {
        return decode_stream(reader, writer, codec, mode);
    }
    let rules = codec.rules(mode);
    let mut state = codec.decode_state(rules);
    let mut total = 0u64;
    let mut cur = vec![0u8; PIPE_BLOCK];
    let mut have = fill(reader, &mut cur)?;
    let mut eof = have < PIPE_BLOCK;
    let split = Split::of(&codec, rules, &cur[..have]);
    // An input shorter than a block is not worth the threads.
    if let Some(split) = split.filter(|_| !eof) {
        let mut next = vec![0u8; PIPE_BLOCK];
        let out_len = PIPE_BLOCK / split.chunk_in * split.chunk_out;
        // The previous block's output is written while the pool decodes the
        // current block into `out`.
        let (mut out, mut prev_out) = (Vec::with_capacity(out_len), Vec::with_capacity(out_len));
        let mut offset = 0u64;
        loop {
            let cut = have / split.chunk_in * split.chunk_in;
            if cut == 0 {
                break;
            }
            let (head, rest) = cur.split_at(cut);
            out.clear();
            let dst = &mut out;
            let mut ok = false;
            let (read, wrote) = rayon::in_place_scope(|s| {
                let ok = &mut ok;
                s.spawn(move |_| {
                    *ok = decode_chunks_append(&codec, rules, split, head, offset, dst);
                });
                let wrote = writer.write_all(&prev_out);
                // The bytes past the cut lead the next block.
                let carry = have - cut;
                next[..carry].copy_from_slice(&rest[..carry]);
                let read = match (&wrote, eof) {
                    (Ok(()), false) => fill(reader, &mut next[carry..]).map(|m| carry + m),
                    _ => Ok(carry),
                };
                (read, wrote)
            });
            wrote?;
            prev_out.clear();
            if !ok {
                // Irregular: this block again on one thread, then the rest.
                let mut buf =
                    vec![MaybeUninit::uninit(); DecodeState::max_output(DECODE_BLOCK) + 3];
                total += feed_all(&mut state, &cur[..cut], writer, &mut buf)?;
                std::mem::swap(&mut cur, &mut next);
                have = read?;
                eof |= have < PIPE_BLOCK;
                break;
            }
            std::mem::swap(&mut out, &mut prev_out);
            total += prev_out.len() as u64;
            offset += cut as u64;
            // A regular chunk ends clean at a chunk start: a fresh state
            // there continues it exactly (as the parallel decoder's chunks).
            state = codec.decode_state(rules).at(offset, split.shape);
            std::mem::swap(&mut cur, &mut next);
            let m = read?;
            eof |= m < PIPE_BLOCK;
            have = m;
        }
        writer.write_all(&prev_out)?;
    }
    // The rest on this thread: what is left of the buffer, then the reader.
    Ok(total + decode_rest(state, &cur[..have], (!eof).then_some(reader), writer)?)
}

/// Fills `buf` from `reader` (short reads are topped up); returns the bytes
/// read, less than `buf.len()` only at the end of the input.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads full blocks (short reads are topped up) and hands each to `f`.
fn pump(
    reader: &mut impl Read,
    block: usize,
    mut f: impl FnMut(&[u8]) -> Result<(), StreamError>,
) -> Result<u64, StreamError> {
    let mut buf = vec![0u8; block];
    let mut total = 0u64;
    loop {
        let filled = fill(reader, &mut buf)?;
        if filled == 0 {
            return Ok(total);
        }
        total += filled as u64;
        f(&buf[..filled])?;
        if filled < block {
            return Ok(total);
        }
    }
}

impl From<DecodeError> for io::Error {
    fn from(e: DecodeError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}
