//! Streaming adapters: `io::Write` sinks that encode or decode whatever is
//! written through them, in bounded memory, with output identical to the
//! one-shot functions however the input is chunked (line state included).
//!
//! [`encode_stream`] and [`decode_stream`] pump a reader into a writer with
//! the same guarantees; the CLI runs on them.

use std::io::{self, Read, Write};
use std::mem::MaybeUninit;

use super::{Base64, DecodeMode, DecodeState, Wrap};
use crate::error::{DecodeError, Error};
use crate::uninit;

/// Input bytes buffered before a block is encoded (rounded to whole lines).
const ENCODE_BLOCK: usize = 192 * 1024;
/// Input bytes decoded per step.
const DECODE_BLOCK: usize = 256 * 1024;

/// An `io::Write` that Base64-encodes into an inner writer.
///
/// Call [`EncoderWriter::finish`] to write the final quantum and line ending
/// and get the inner writer back; dropping the encoder finishes it too,
/// ignoring errors.
pub struct EncoderWriter<W: Write> {
    inner: Option<W>,
    codec: Base64,
    wrap: Wrap,
    /// Input bytes that a whole unit (whole lines) needs.
    unit: usize,
    pending: Vec<u8>,
    out: Vec<u8>,
    /// Set when a write failed: the output is incomplete, so dropping the
    /// encoder must not append a final quantum that makes it look whole.
    failed: bool,
}

impl<W: Write> EncoderWriter<W> {
    /// Encodes with `codec`, wrapping as `wrap` says.
    pub fn new(inner: W, codec: Base64, wrap: Wrap) -> Self {
        let line_unit = match wrap.cols {
            0 => 3,
            c => c * 4 / gcd(c, 4) / 4 * 3,
        };
        let unit = ENCODE_BLOCK.div_ceil(line_unit) * line_unit;
        EncoderWriter {
            inner: Some(inner),
            codec,
            wrap,
            unit,
            pending: Vec::with_capacity(unit),
            out: Vec::new(),
            failed: false,
        }
    }

    fn encode_block(&mut self, block: &[u8]) -> io::Result<()> {
        self.out.clear();
        self.codec
            .encode_wrapped_append(block, self.wrap, &mut self.out);
        let result = self
            .inner
            .as_mut()
            .expect("writer used after finish")
            .write_all(&self.out);
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
        self.inner.as_mut().expect("present").flush()
    }
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
        // Only whole lines can be written before the end; flush what is out.
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
    pub fn finish(mut self) -> Result<W, Error> {
        let n = self.state.finish(&mut self.out)?;
        self.inner.write_all(uninit::written(&self.out, n))?;
        self.inner.flush()?;
        Ok(self.inner)
    }

    fn feed(&mut self, buf: &[u8]) -> Result<(), Error> {
        for block in buf.chunks(DECODE_BLOCK) {
            let n = self.state.feed(block, &mut self.out)?;
            self.inner.write_all(uninit::written(&self.out, n))?;
        }
        Ok(())
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
        enc.write_all(b).map_err(Error::Io)
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
) -> Result<u64, Error> {
    let mut state = codec.decode_state(codec.rules(mode));
    let mut out = vec![MaybeUninit::uninit(); DecodeState::max_output(DECODE_BLOCK) + 3];
    let mut total = 0u64;
    pump(reader, DECODE_BLOCK, |block| {
        let n = state.feed(block, &mut out)?;
        writer.write_all(uninit::written(&out, n))?;
        total += n as u64;
        Ok(())
    })?;
    let n = state.finish(&mut out)?;
    writer.write_all(uninit::written(&out, n))?;
    writer.flush()?;
    Ok(total + n as u64)
}

/// Encodes an in-memory (e.g. memory-mapped) input to `writer` block by
/// block, without copying it first; returns the input bytes.
pub fn encode_slice(
    src: &[u8],
    writer: &mut impl Write,
    codec: Base64,
    wrap: Wrap,
) -> io::Result<u64> {
    let mut enc = EncoderWriter::new(writer, codec, wrap);
    enc.write_all(src)?;
    enc.finish()?;
    Ok(src.len() as u64)
}

/// Decodes an in-memory (e.g. memory-mapped) input to `writer` block by
/// block, without copying it first; returns the bytes written. Errors carry
/// the input offset.
pub fn decode_slice(
    src: &[u8],
    writer: &mut impl Write,
    codec: Base64,
    mode: DecodeMode,
) -> Result<u64, Error> {
    let mut state = codec.decode_state(codec.rules(mode));
    let mut out = vec![MaybeUninit::uninit(); DecodeState::max_output(DECODE_BLOCK) + 3];
    let mut total = 0u64;
    for block in src.chunks(DECODE_BLOCK) {
        let n = state.feed(block, &mut out)?;
        writer.write_all(uninit::written(&out, n))?;
        total += n as u64;
    }
    let n = state.finish(&mut out)?;
    writer.write_all(uninit::written(&out, n))?;
    writer.flush()?;
    Ok(total + n as u64)
}

/// Reads full blocks (short reads are topped up) and hands each to `f`.
fn pump(
    reader: &mut impl Read,
    block: usize,
    mut f: impl FnMut(&[u8]) -> Result<(), Error>,
) -> Result<u64, Error> {
    let mut buf = vec![0u8; block];
    let mut total = 0u64;
    loop {
        let mut filled = 0;
        while filled < block {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
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

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl From<DecodeError> for io::Error {
    fn from(e: DecodeError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}
