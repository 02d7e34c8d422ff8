//! The decoder state machine: every decode, one-shot, parallel or streaming,
//! runs through [`DecodeState`].
//!
//! The state holds at most one partial quantum, so input can arrive in chunks
//! of any size and the output (and every error offset) is the same as for one
//! call over the whole input. While no quantum is pending, the state hands the
//! input to the vector kernels (regular lines first, then the general kernel)
//! and only walks bytes one at a time where the kernels stop: at padding, at
//! invalid bytes, and at the ends of chunks.
//!
//! The rules for padding and stray bytes differ per mode ([`Rules`]); the
//! `Binascii` rules reproduce CPython's `binascii.a2b_base64` exactly, so the
//! Python functions keep the stdlib's semantics, corners included.

use super::kernel::{Engine, Skip};
use super::scalar::{PAD, SPACE};
use super::Alphabet;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::uninit::Out;
use core::mem::MaybeUninit;

/// How padding and bytes outside the alphabet are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rules {
    /// RFC 4648: nothing but the alphabet, canonical padding (when `padded`;
    /// none at all otherwise), zero trailing bits.
    Rfc4648 { padded: bool },
    /// RFC 2045 bodies: CR, LF, space and tab are skipped anywhere; padding is
    /// optional but must be right when present; trailing bits are ignored.
    Mime,
    /// CPython's `binascii.a2b_base64(strict_mode=strict)`; without
    /// `require_padding` an unpadded final quantum is accepted. In strict
    /// mode, `=` at a quantum boundary past the first byte is "Excess
    /// padding" when `excess_padding` is set (CPython 3.13+); before 3.13
    /// binascii only marked padding as started there (`QUJD=` decoded to
    /// `ABC`, `QUJD=QQ==` was "Discontinuous padding").
    Binascii {
        strict: bool,
        require_padding: bool,
        excess_padding: bool,
    },
}

impl Rules {
    pub(crate) fn skip(self) -> Skip {
        match self {
            Rules::Rfc4648 { .. } | Rules::Binascii { strict: true, .. } => Skip::None,
            Rules::Mime => Skip::Whitespace,
            Rules::Binascii { strict: false, .. } => Skip::NonAlphabet,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Data,
    /// Some `=` seen, padding not complete (RFC 4648 and MIME rules).
    Padding,
    /// Padding complete.
    Done,
}

/// The line structure of the input, as seen at its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    Unknown,
    Irregular,
    /// Lines of `cols` characters (a multiple of 4) ended by CRLF or LF.
    Lines {
        cols: usize,
        crlf: bool,
    },
}

const UNKNOWN_COL: usize = usize::MAX;

/// Up to this many bytes where [`DecodeState::decode_all`]'s kernels stop
/// go straight to the state machine (a padded last quantum and its EOL),
/// more through [`DecodeState::feed`] and its kernels.
const SHORT_REST: usize = 16;

/// The usual end of a one-shot decode where the kernels stop: one quantum
/// (`XXXX`, `XXX=` or `XX==`), and after it nothing, or under MIME rules
/// only whitespace (the last line's ending). Decoded at once, as the state
/// machine decodes it (checked by `decode_all_equals_the_state_machine`);
/// `None` for anything else, bad trailing bits and every error included,
/// which the state machine then takes from the start of `rest`. Walking
/// the four bytes through the state machine was a third of a 256-byte
/// decode (see [`DecodeState::decode_all`]).
#[inline(always)]
fn last_quantum(table: &[u8; 256], rules: Rules, rest: &[u8], mut dst: Out<'_>) -> Option<usize> {
    let (q, after) = rest.split_first_chunk::<4>()?;
    if !after
        .iter()
        .all(|&c| rules == Rules::Mime && table[c as usize] == SPACE)
    {
        return None;
    }
    let v = q.map(|c| table[c as usize]);
    if v[0] >= 64 || v[1] >= 64 {
        return None;
    }
    let padding = !matches!(rules, Rules::Rfc4648 { padded: false });
    // Bytes out, and the bits past them that must be zero under RFC 4648.
    let (n, trailing) = match (v[2], v[3]) {
        (c, d) if c < 64 && d < 64 => (3, 0),
        (c, PAD) if c < 64 && padding => (2, c & 0x3),
        (PAD, PAD) if padding => (1, v[1] & 0xF),
        _ => return None,
    };
    if trailing != 0 && matches!(rules, Rules::Rfc4648 { .. }) {
        return None;
    }
    let data = |x: u8| if x < 64 { x as u32 } else { 0 };
    let bits = data(v[0]) << 18 | data(v[1]) << 12 | data(v[2]) << 6 | data(v[3]);
    for (k, &b) in bits.to_be_bytes()[1..=n].iter().enumerate() {
        dst.write(k, b);
    }
    Some(n)
}

/// Decoding state between chunks: see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct DecodeState {
    engine: Engine,
    alphabet: Alphabet,
    rules: Rules,
    table: &'static [u8; 256],
    acc: u32,
    quad_pos: u8,
    pads: u8,
    phase: Phase,
    padding_started: bool,
    /// Absolute offset of the next input byte.
    offset: u64,
    /// Offset of the last alphabet character, for trailing-bit errors.
    last_data: u64,
    shape: Shape,
    /// Zero exactly when no alphabet character has come since the last LF,
    /// i.e. at a line start, where the line kernel may take over (only
    /// tracked for `Shape::Lines`); positive past it, without saying how
    /// far ([`Self::col_after`] stops at the first character); `UNKNOWN_COL`
    /// until an LF is seen. Nothing but "zero or not" is ever read.
    col: usize,
}

impl DecodeState {
    pub(crate) fn new(engine: Engine, alphabet: Alphabet, rules: Rules) -> Self {
        DecodeState {
            engine,
            alphabet,
            rules,
            table: alphabet.decode_table(),
            acc: 0,
            quad_pos: 0,
            pads: 0,
            phase: Phase::Data,
            padding_started: false,
            offset: 0,
            last_data: 0,
            shape: Shape::Unknown,
            col: 0,
        }
    }

    /// A state that starts at absolute `offset` with a known shape, at a line
    /// start unless the shape is `Irregular`: how the parallel decoder starts
    /// each chunk, and how [`Self::decode_all`] hands over where its kernels
    /// stop (with `Irregular`, anywhere).
    pub(crate) fn at(mut self, offset: u64, shape: Shape) -> Self {
        self.offset = offset;
        self.shape = shape;
        self
    }

    /// The most bytes one `feed` of `n` input bytes can write.
    pub(crate) const fn max_output(n: usize) -> usize {
        n.div_ceil(4) * 3
    }

    #[cfg(feature = "parallel")]
    /// Whether the state sits at a quantum boundary with no padding seen.
    pub(crate) fn is_clean(&self) -> bool {
        self.phase == Phase::Data && self.quad_pos == 0 && !self.padding_started
    }

    /// Looks at the start of the input for regular lines the line kernel can take.
    pub(crate) fn detect_shape(engine: Engine, skip: Skip, src: &[u8]) -> Shape {
        if skip == Skip::None || !engine.has_line_kernel() {
            return Shape::Irregular;
        }
        let Some(lf) = memchr::memchr(b'\n', &src[..src.len().min(1100)]) else {
            return Shape::Irregular;
        };
        let crlf = lf > 0 && src[lf - 1] == b'\r';
        let cols = lf - crlf as usize;
        if cols.is_multiple_of(4) && (4..=1024).contains(&cols) {
            Shape::Lines { cols, crlf }
        } else {
            Shape::Irregular
        }
    }

    /// Decodes the whole input `src` into `dst`, which must hold
    /// [`Self::max_output`]`(src.len())` bytes: the same result, bytes and
    /// errors, as one [`Self::feed`] and [`Self::finish`] (the tests compare
    /// the two), for less. A state carries nothing between the kernel calls
    /// here, so none is made until the kernels stop; and the stop is usually
    /// the padded last quantum a few bytes from the end, which is then
    /// decoded at once ([`last_quantum`]), or else byte by byte, without a
    /// second round of kernel calls. At 256 bytes the calls around the
    /// kernels were most of the time (see "Small parts" in the README); on
    /// the Xeon guest (family 6 model 167) the last quantum at once took a
    /// 256-byte decode from 28.5 to 24.4 ns (`mimeflow bench -j1`).
    pub(crate) fn decode_all(
        engine: Engine,
        alphabet: Alphabet,
        rules: Rules,
        src: &[u8],
        mut dst: Out<'_>,
    ) -> Result<usize, DecodeError> {
        assert!(dst.len() >= Self::max_output(src.len()));
        let mut skip = rules.skip();
        let (mut i, mut w) = (0, 0);
        if let Shape::Lines { cols, crlf } = Self::guess_shape(engine, skip, src) {
            (i, w) = engine.decode_lines(alphabet, src, dst.reborrow(), cols, crlf);
            if src.len() - i <= cols + 2 {
                // What is left is the last line, clean up to its padding or
                // EOL: the plain kernel takes it without the skipping
                // kernel's set-up (a fifth of a 256-byte MIME decode), and
                // a line that is not clean goes to the state below.
                skip = Skip::None;
            }
        }
        let (r, n) = engine.decode(alphabet, skip, &src[i..], dst.tail(w));
        (i, w) = (i + r, w + n);
        if engine.backend() != super::Backend::Scalar && src.len() - i > SHORT_REST {
            // Whole quanta a vector kernel left short of a block (as `feed`).
            let (r, n) = super::scalar::decode(alphabet, skip, &src[i..], dst.tail(w));
            (i, w) = (i + r, w + n);
        }
        let rest = &src[i..];
        if let Some(n) = last_quantum(alphabet.decode_table(), rules, rest, dst.tail(w)) {
            return Ok(w + n);
        }
        let mut state = DecodeState::new(engine, alphabet, rules).at(i as u64, Shape::Irregular);
        if rest.len() <= SHORT_REST {
            // Nothing here takes the state by reference out of line, so its
            // fields can live in registers.
            for &c in rest {
                state.step(c, &mut dst, &mut w)?;
            }
            return Ok(w + state.finish_inline(dst.tail(w))?);
        }
        w += state.feed(rest, dst.tail(w))?;
        Ok(w + state.finish(dst.tail(w))?)
    }

    /// [`Self::detect_shape`], first trying MIME's 76 columns without a
    /// search. The shape only says which kernel to try first (the line
    /// kernel checks every line it takes), so a wrong guess costs time, not
    /// correctness: text whose first EOL comes earlier fails the line
    /// kernel's first line and goes to the general kernel.
    fn guess_shape(engine: Engine, skip: Skip, src: &[u8]) -> Shape {
        if skip != Skip::None && engine.has_line_kernel() {
            match src.get(76..78) {
                Some(b"\r\n") => {
                    return Shape::Lines {
                        cols: 76,
                        crlf: true,
                    }
                }
                Some([b'\n', _]) => {
                    return Shape::Lines {
                        cols: 76,
                        crlf: false,
                    }
                }
                _ => {}
            }
        }
        Self::detect_shape(engine, skip, src)
    }

    /// Decodes `src` (the next bytes of the input) into `dst`, which must hold
    /// [`Self::max_output`]`(src.len())` bytes. Returns the bytes written.
    pub(crate) fn feed(&mut self, src: &[u8], mut dst: Out<'_>) -> Result<usize, DecodeError> {
        assert!(dst.len() >= Self::max_output(src.len()));
        let skip = self.rules.skip();
        if self.shape == Shape::Unknown {
            self.shape = Self::detect_shape(self.engine, skip, src);
        }
        let window = match self.shape {
            Shape::Lines { cols, .. } => (cols + 2).max(64),
            _ => 64,
        };
        let (mut i, mut w) = (0, 0);
        while i < src.len() {
            if self.phase == Phase::Done
                && matches!(self.rules, Rules::Binascii { strict: false, .. })
            {
                // binascii stops at complete padding and ignores the rest.
                self.offset += (src.len() - i) as u64;
                return Ok(w);
            }
            if self.phase == Phase::Data && self.quad_pos == 0 {
                let start = i;
                if let Shape::Lines { cols, crlf } = self.shape {
                    if self.col == 0 {
                        let (r, n) = self.engine.decode_lines(
                            self.alphabet,
                            &src[i..],
                            dst.tail(w),
                            cols,
                            crlf,
                        );
                        i += r;
                        w += n;
                    }
                }
                let (mut r, mut n) =
                    self.engine
                        .decode(self.alphabet, skip, &src[i..], dst.tail(w));
                if self.engine.backend() != super::Backend::Scalar && i + r < src.len() {
                    // Vector kernels stop up to a block before the end; the
                    // whole quanta left there go four at a time, not through
                    // the byte-by-byte state machine (it dominated at 1 KiB).
                    let (r2, n2) =
                        super::scalar::decode(self.alphabet, skip, &src[i + r..], dst.tail(w + n));
                    r += r2;
                    n += n2;
                }
                if r > 0 && matches!(self.shape, Shape::Lines { .. }) {
                    self.col = self.col_after(&src[i..i + r]);
                }
                i += r;
                w += n;
                self.offset += (i - start) as u64;
                if i == src.len() {
                    break;
                }
            }
            // Byte by byte through a window where the kernels stopped, then on
            // to a point where they can take over again (bounded).
            let end = (i + window).min(src.len());
            while i < end {
                self.step(src[i], &mut dst, &mut w)?;
                i += 1;
            }
            let limit = (i + 4 * window).min(src.len());
            while i < limit && !self.resumable() {
                self.step(src[i], &mut dst, &mut w)?;
                i += 1;
            }
        }
        Ok(w)
    }

    /// [`Self::feed`] into a scratch buffer, returning what it wrote.
    #[allow(unsafe_code)]
    pub(crate) fn feed_buf<'b>(
        &mut self,
        src: &[u8],
        buf: &'b mut [MaybeUninit<u8>],
    ) -> Result<&'b [u8], DecodeError> {
        let n = self.feed(src, Out::from_uninit(buf))?;
        // SAFETY: `feed` wrote the `n` bytes it reports.
        Ok(unsafe { crate::uninit::written(buf, n) })
    }

    /// [`Self::finish`] into a scratch buffer, returning what it wrote.
    #[allow(unsafe_code)]
    pub(crate) fn finish_buf<'b>(
        &mut self,
        buf: &'b mut [MaybeUninit<u8>],
    ) -> Result<&'b [u8], DecodeError> {
        let n = self.finish(Out::from_uninit(buf))?;
        // SAFETY: `finish` wrote the `n` bytes it reports.
        Ok(unsafe { crate::uninit::written(buf, n) })
    }

    /// Ends the input: checks the final quantum and writes its 0 to 2 bytes.
    pub(crate) fn finish(&mut self, dst: Out<'_>) -> Result<usize, DecodeError> {
        self.finish_inline(dst)
    }

    /// [`Self::finish`], inlined where its caller keeps the state in registers.
    #[inline(always)]
    fn finish_inline(&mut self, mut dst: Out<'_>) -> Result<usize, DecodeError> {
        let at = self.offset;
        match self.phase {
            Phase::Done => return Ok(0),
            Phase::Padding => return Err(DecodeError::new(DecodeErrorKind::IncompletePadding, at)),
            Phase::Data => {}
        }
        match self.quad_pos {
            0 => Ok(0),
            1 => Err(DecodeError::new(DecodeErrorKind::InvalidLength, at)),
            _ => {
                match self.rules {
                    Rules::Rfc4648 { padded: true } => {
                        return Err(DecodeError::new(DecodeErrorKind::MissingPadding, at))
                    }
                    Rules::Rfc4648 { padded: false } => self.check_trailing_bits()?,
                    Rules::Mime => {}
                    Rules::Binascii {
                        require_padding, ..
                    } => {
                        if require_padding {
                            let kind = if self.padding_started {
                                DecodeErrorKind::IncompletePadding
                            } else {
                                DecodeErrorKind::MissingPadding
                            };
                            return Err(DecodeError::new(kind, at));
                        }
                    }
                }
                let mut w = 0;
                self.emit_partial(&mut dst, &mut w);
                self.phase = Phase::Done;
                Ok(w)
            }
        }
    }

    fn resumable(&self) -> bool {
        self.phase == Phase::Data
            && self.quad_pos == 0
            && (!matches!(self.shape, Shape::Lines { .. }) || self.col == 0)
    }

    /// [`Self::col`] after `consumed`: zero when no alphabet character
    /// follows its last LF, else positive. After the last LF only the first
    /// character is looked for, not counted: the kernels usually stop
    /// inside the last, short line of a body, and counting that line byte
    /// by byte was a tenth of a 256-byte MIME decode.
    fn col_after(&self, consumed: &[u8]) -> usize {
        let any_char = |s: &[u8]| s.iter().any(|&c| self.table[c as usize] < 64) as usize;
        match memchr::memrchr(b'\n', consumed) {
            Some(lf) => any_char(&consumed[lf + 1..]),
            None if self.col != UNKNOWN_COL && consumed.len() <= 4096 => {
                self.col + any_char(consumed)
            }
            None => UNKNOWN_COL,
        }
    }

    // `step` and what it calls are inlined into their loops so the state's
    // fields stay in registers: out of line, the padded last quantum of a
    // 256-byte MIME decode (`XX==` and its CRLF: six calls) cost 8 ns of 40.
    #[inline(always)]
    fn step(&mut self, c: u8, dst: &mut Out<'_>, w: &mut usize) -> Result<(), DecodeError> {
        let at = self.offset;
        self.offset += 1;
        let v = self.table[c as usize];
        if self.phase == Phase::Done {
            return match self.rules {
                Rules::Binascii { strict: false, .. } => Ok(()),
                Rules::Mime if v == SPACE => Ok(()),
                _ => Err(DecodeError::new(DecodeErrorKind::DataAfterPadding, at)),
            };
        }
        if v < 64 {
            return self.data(v, at, dst, w);
        }
        if c == b'\n' {
            self.col = 0;
        }
        if v == PAD {
            return self.pad(at, dst, w);
        }
        let skippable = match self.rules {
            Rules::Rfc4648 { .. } => false,
            Rules::Mime => v == SPACE,
            Rules::Binascii { strict, .. } => !strict,
        };
        if skippable {
            Ok(())
        } else {
            Err(DecodeError::new(DecodeErrorKind::InvalidByte(c), at))
        }
    }

    #[inline(always)]
    fn data(
        &mut self,
        v: u8,
        at: u64,
        dst: &mut Out<'_>,
        w: &mut usize,
    ) -> Result<(), DecodeError> {
        match self.rules {
            Rules::Binascii { strict, .. } => {
                if strict && self.padding_started {
                    return Err(DecodeError::new(DecodeErrorKind::DiscontinuousPadding, at));
                }
                self.pads = 0;
            }
            _ => {
                if self.phase == Phase::Padding {
                    return Err(DecodeError::new(DecodeErrorKind::DiscontinuousPadding, at));
                }
            }
        }
        if self.col != UNKNOWN_COL {
            self.col += 1;
        }
        self.last_data = at;
        self.acc = self.acc << 6 | v as u32;
        self.quad_pos += 1;
        if self.quad_pos == 4 {
            let b = self.acc.to_be_bytes();
            dst.write(*w, b[1]);
            dst.write(*w + 1, b[2]);
            dst.write(*w + 2, b[3]);
            *w += 3;
            self.acc = 0;
            self.quad_pos = 0;
        }
        Ok(())
    }

    #[inline(always)]
    fn pad(&mut self, at: u64, dst: &mut Out<'_>, w: &mut usize) -> Result<(), DecodeError> {
        let unexpected = DecodeError::new(DecodeErrorKind::UnexpectedPadding, at);
        match self.rules {
            Rules::Binascii {
                strict,
                excess_padding,
                ..
            } => {
                self.padding_started = true;
                if strict && self.quad_pos == 0 && (excess_padding || at == 0) {
                    return Err(unexpected);
                }
                if self.quad_pos >= 2 {
                    self.pads += 1;
                    if self.quad_pos + self.pads >= 4 {
                        self.emit_partial(dst, w);
                        self.phase = Phase::Done;
                    }
                }
                return Ok(());
            }
            Rules::Rfc4648 { padded: false } => {
                return Err(DecodeError::new(DecodeErrorKind::InvalidByte(b'='), at))
            }
            Rules::Rfc4648 { padded: true } | Rules::Mime => {}
        }
        if self.quad_pos < 2 {
            return Err(unexpected);
        }
        if self.phase == Phase::Data && matches!(self.rules, Rules::Rfc4648 { .. }) {
            self.check_trailing_bits()?;
        }
        self.phase = Phase::Padding;
        self.padding_started = true;
        self.pads += 1;
        if self.quad_pos + self.pads == 4 {
            self.emit_partial(dst, w);
            self.phase = Phase::Done;
        }
        Ok(())
    }

    #[inline(always)]
    fn check_trailing_bits(&self) -> Result<(), DecodeError> {
        let mask = if self.quad_pos == 2 { 0xF } else { 0x3 };
        if self.acc & mask != 0 {
            return Err(DecodeError::new(
                DecodeErrorKind::TrailingBits,
                self.last_data,
            ));
        }
        Ok(())
    }

    /// Writes the bytes of a 2- or 3-character final quantum.
    #[inline(always)]
    fn emit_partial(&mut self, dst: &mut Out<'_>, w: &mut usize) {
        match self.quad_pos {
            2 => {
                dst.write(*w, (self.acc >> 4) as u8);
                *w += 1;
            }
            3 => {
                dst.write(*w, (self.acc >> 10) as u8);
                dst.write(*w + 1, (self.acc >> 2) as u8);
                *w += 2;
            }
            _ => {}
        }
        self.acc = 0;
        self.quad_pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base64::Backend;

    /// Every rule set the codecs build.
    fn every_rules() -> Vec<Rules> {
        let mut all = vec![
            Rules::Rfc4648 { padded: true },
            Rules::Rfc4648 { padded: false },
            Rules::Mime,
        ];
        for bits in 0..8 {
            all.push(Rules::Binascii {
                strict: bits & 1 != 0,
                require_padding: bits & 2 != 0,
                excess_padding: bits & 4 != 0,
            });
        }
        all
    }

    /// Every engine this CPU runs, AVX-512 also without VBMI2.
    fn every_engine() -> Vec<Engine> {
        let mut all = Vec::new();
        for b in Backend::available() {
            let e = Engine::new(b).unwrap();
            all.push(e);
            if e.without_vbmi2() != e {
                all.push(e.without_vbmi2());
            }
        }
        all
    }

    fn one_shot(e: Engine, rules: Rules, src: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let mut buf = vec![0; DecodeState::max_output(src.len())];
        let n =
            DecodeState::decode_all(e, Alphabet::Standard, rules, src, Out::from_init(&mut buf))?;
        buf.truncate(n);
        Ok(buf)
    }

    /// The state machine itself: the prefix in one `feed`, then the tail
    /// one byte at a time, then `finish`.
    fn stepped(
        e: Engine,
        rules: Rules,
        prefix: &[u8],
        tail: &[u8],
    ) -> Result<Vec<u8>, DecodeError> {
        let mut state = DecodeState::new(e, Alphabet::Standard, rules);
        let mut buf = vec![MaybeUninit::uninit(); DecodeState::max_output(prefix.len()) + 3];
        let mut out = state.feed_buf(prefix, &mut buf)?.to_vec();
        for &c in tail {
            out.extend_from_slice(state.feed_buf(&[c], &mut buf)?);
        }
        out.extend_from_slice(state.finish_buf(&mut buf)?);
        Ok(out)
    }

    /// `decode_all` takes short cuts (no state until its kernels stop, the
    /// last line through the plain kernel, a guessed shape, the last
    /// quantum at once, a short rest byte by byte): its result, bytes or
    /// error with its offset, is that of the state machine for every rule
    /// set and engine, over every ending of up to four bytes from alphabet
    /// characters with and without trailing bits ('B' sets the low bit; 'A'
    /// and 'Q' leave the low four clear), padding, whitespace and an invalid
    /// byte, and over every four-character quantum of those followed by line
    /// endings, whitespace and more, after prefixes of regular CRLF and LF
    /// lines, of lines of another width and of none.
    #[test]
    fn decode_all_equals_the_state_machine() {
        let line = b"QUJD".repeat(19);
        let crlf4: Vec<u8> = [&line[..], b"\r\n"].concat().repeat(4);
        let lf2: Vec<u8> = [&line[..], b"\n"].concat().repeat(2);
        let narrow: Vec<u8> = b"QUJDQUJD\r\n".repeat(3);
        let prefixes: [&[u8]; 6] = [b"", b"QUJD", &crlf4, &lf2, &narrow, &line[..64]];
        let endings = |symbols: &[u8], len: usize| {
            let mut all: Vec<Vec<u8>> = vec![Vec::new()];
            let mut last = all.clone();
            for _ in 0..len {
                last = last
                    .iter()
                    .flat_map(|t| symbols.iter().map(move |&c| [&t[..], &[c]].concat()))
                    .collect();
                all.extend(last.iter().cloned());
            }
            (all, last)
        };
        let (mut tails, _) = endings(b"ABQ=\r\n !", 4);
        let (_, quanta) = endings(b"ABQ=!", 4);
        for after in [
            &b"\n"[..],
            b"\r\n",
            b" \t\r\n",
            b"\r\n\r\n",
            b"\n!",
            b"\nQQ==",
            b"=",
        ] {
            tails.extend(quanta.iter().map(|q| [&q[..], after].concat()));
        }
        for e in every_engine() {
            for rules in every_rules() {
                for prefix in prefixes {
                    for tail in &tails {
                        let src = [prefix, &tail[..]].concat();
                        assert_eq!(
                            one_shot(e, rules, &src),
                            stepped(e, rules, prefix, tail),
                            "{e:?} {rules:?} {:?}",
                            String::from_utf8_lossy(&src)
                        );
                    }
                }
            }
        }
    }
}
