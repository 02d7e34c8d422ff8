//! Base64 (RFC 4648) and its MIME form (RFC 2045), at memory speed.
//!
//! A [`Base64`] value is a codec: an [`Alphabet`], whether it pads, and the
//! [`Backend`] whose kernels it runs. The constants [`STANDARD`],
//! [`URL_SAFE`] and their `_NO_PAD` variants use the process default backend
//! (the fastest this CPU has, or `MIMEFLOW_SIMD`); [`Base64::with_backend`]
//! picks one explicitly.
//!
//! Decoding has three [`DecodeMode`]s: `Strict` (RFC 4648), `Mime` (skips
//! CR, LF, space and tab, the default for mail) and `Lenient` (skips every
//! byte outside the alphabet, as `binascii.a2b_base64` does). Encoding can
//! wrap lines ([`Wrap`]) in the same pass.
//!
//! Output goes into a caller's buffer (no allocation) or a `Vec`; the
//! [`stream`] module adapts the codec to `io::Write` in bounded memory, and
//! with the `parallel` feature the `par_*` methods spread large buffers over
//! rayon's threads.

mod decode;
mod dispatch;
mod encode;
pub(crate) mod kernel;
#[cfg(feature = "parallel")]
mod parallel;
mod portable;
mod scalar;
pub mod stream;
#[cfg(target_arch = "x86_64")]
mod x86_64;

pub use crate::error::StreamError;
pub use dispatch::{cpu_features, Backend};
pub use kernel::Stores;
#[cfg(feature = "parallel")]
pub use parallel::PARALLEL_THRESHOLD;

pub(crate) use decode::{DecodeState, Rules};
use kernel::Engine;

use std::mem::MaybeUninit;

use crate::error::DecodeError;
use crate::uninit::{self, Out};

/// The 64-character alphabet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alphabet {
    /// `A-Z a-z 0-9 + /` (RFC 4648 §4, MIME).
    Standard,
    /// `A-Z a-z 0-9 - _` (RFC 4648 §5, URLs and file names).
    UrlSafe,
}

/// How decoding treats bytes outside the alphabet and padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DecodeMode {
    /// RFC 4648: any byte outside the alphabet, bad or (for padded codecs)
    /// missing padding, and non-zero trailing bits are errors.
    Strict,
    /// RFC 2045 bodies: CR, LF, space and tab are skipped wherever they stand;
    /// padding is optional but must be right when present; trailing bits are
    /// ignored. The default, since it is what mail needs.
    #[default]
    Mime,
    /// Every byte outside the alphabet is skipped and decoding stops at the
    /// first complete padding, like Python's `binascii.a2b_base64`. Padded
    /// codecs still require the final quantum to be padded.
    Lenient,
}

/// The line ending of wrapped output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum LineEnding {
    /// `\r\n`, as MIME and SMTP require.
    #[default]
    Crlf,
    /// `\n`, as Unix tools write.
    Lf,
}

impl LineEnding {
    /// The bytes of the ending.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Crlf => b"\r\n",
            LineEnding::Lf => b"\n",
        }
    }
}

/// Line wrapping of encoded output: every line, the last included, ends with
/// the line ending; `cols == 0` means no wrapping and no line ending at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Wrap {
    /// Characters per line; 0 for one unbroken line.
    pub cols: usize,
    /// What ends each line.
    pub line_ending: LineEnding,
}

impl Wrap {
    /// RFC 2045: 76 columns, CRLF.
    pub const MIME: Wrap = Wrap {
        cols: 76,
        line_ending: LineEnding::Crlf,
    };
    /// No wrapping.
    pub const NONE: Wrap = Wrap {
        cols: 0,
        line_ending: LineEnding::Lf,
    };

    /// `cols` columns ended by `line_ending`.
    pub const fn new(cols: usize, line_ending: LineEnding) -> Wrap {
        Wrap { cols, line_ending }
    }
}

/// Greatest common divisor, the crate's one copy: how many lines of a
/// width hold whole 4-character quanta (`4 / gcd(cols, 4)`).
pub(crate) const fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Default for Wrap {
    fn default() -> Self {
        Wrap::MIME
    }
}

/// A Base64 codec: alphabet, padding and backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Base64 {
    alphabet: Alphabet,
    padding: bool,
    /// `None`: the process default, resolved on use.
    engine: Option<Engine>,
}

/// Standard alphabet, padded.
pub const STANDARD: Base64 = Base64::new(Alphabet::Standard, true);
/// Standard alphabet, no padding.
pub const STANDARD_NO_PAD: Base64 = Base64::new(Alphabet::Standard, false);
/// URL-safe alphabet, padded.
pub const URL_SAFE: Base64 = Base64::new(Alphabet::UrlSafe, true);
/// URL-safe alphabet, no padding.
pub const URL_SAFE_NO_PAD: Base64 = Base64::new(Alphabet::UrlSafe, false);

/// Characters that encode `n` bytes: whole quanta with `pad`, else two
/// for a last byte and three for two. The one copy of the rule, for
/// [`Base64::encoded_length`] and the kernels that write the padding.
pub(crate) const fn encoded_len(n: usize, pad: bool) -> usize {
    if pad {
        n.div_ceil(3) * 4
    } else {
        n / 3 * 4 + n % 3 + !n.is_multiple_of(3) as usize
    }
}

/// Panics, with the documented message, unless `room` bytes hold the
/// `need` bytes of an output: the one wording, for [`Base64`]'s encodes,
/// its short decode into a caller's buffer, and the kernels that check
/// their own room.
#[inline(always)]
#[track_caller]
pub(crate) fn check_room(room: usize, need: usize) {
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn too_short(need: usize) -> ! {
        panic!("output buffer too short: need {need} bytes")
    }
    if room < need {
        too_short(need)
    }
}

/// Characters and line endings that encode `n` bytes wrapped by `wrap`: the
/// one copy of the rule, for [`Base64::encoded_length_wrapped`] and the
/// kernels that check their own room.
pub(crate) const fn encoded_len_wrapped(n: usize, pad: bool, wrap: Wrap) -> usize {
    let chars = encoded_len(n, pad);
    if wrap.cols == 0 {
        return chars;
    }
    let eol = match wrap.line_ending {
        LineEnding::Crlf => 2,
        LineEnding::Lf => 1,
    };
    let lines = match wrap.cols {
        // The usual width without a division: 76 characters are 57
        // input bytes, padded or not (ceil(ceil(4n/3)/76) = ceil(n/57)).
        // (Written over `chars`, LLVM merged this arm into the other's
        // division.)
        76 => n.div_ceil(57),
        cols => chars.div_ceil(cols),
    };
    chars + lines * eol
}

impl Base64 {
    /// A codec on the process default backend.
    pub const fn new(alphabet: Alphabet, padding: bool) -> Base64 {
        Base64 {
            alphabet,
            padding,
            engine: None,
        }
    }

    /// The same codec on `backend`, or `None` where this CPU lacks it.
    pub fn with_backend(self, backend: Backend) -> Option<Base64> {
        Some(Base64 {
            engine: Some(Engine::new(backend)?),
            ..self
        })
    }

    /// The same codec as it runs on a CPU without AVX-512 VBMI2: the
    /// AVX-512 decoder then stops its vector loop at the first block that
    /// holds a skipped byte (MIME whitespace, lenient garbage) instead of
    /// compacting it away. Results are the same; tests use this to run the
    /// fallback on machines that have the instructions. No effect on other
    /// backends.
    pub fn without_vbmi2(self) -> Base64 {
        Base64 {
            engine: Some(self.engine().without_vbmi2()),
            ..self
        }
    }

    /// The same codec writing its encoded output the way `stores` says
    /// ([`Stores`]; the default is [`Stores::Auto`]). Results are the same.
    pub fn with_stores(self, stores: Stores) -> Base64 {
        Base64 {
            engine: Some(self.engine().with_stores(stores)),
            ..self
        }
    }

    /// The backend this codec runs.
    pub fn backend(&self) -> Backend {
        self.engine().backend()
    }

    /// The alphabet.
    pub fn alphabet(&self) -> Alphabet {
        self.alphabet
    }

    /// Whether encoding pads with `=`.
    pub fn padding(&self) -> bool {
        self.padding
    }

    #[inline]
    fn engine(&self) -> Engine {
        self.engine.unwrap_or_else(Engine::process_default)
    }

    pub(crate) fn rules(&self, mode: DecodeMode) -> Rules {
        match mode {
            DecodeMode::Strict => Rules::Rfc4648 {
                padded: self.padding,
            },
            DecodeMode::Mime => Rules::Mime,
            DecodeMode::Lenient => Rules::Binascii {
                strict: false,
                require_padding: self.padding,
                excess_padding: true,
            },
        }
    }

    /// Exact length of the unwrapped encoding of `n` bytes.
    pub const fn encoded_length(&self, n: usize) -> usize {
        encoded_len(n, self.padding)
    }

    /// Exact length of the encoding of `n` bytes wrapped by `wrap`.
    pub const fn encoded_length_wrapped(&self, n: usize, wrap: Wrap) -> usize {
        encoded_len_wrapped(n, self.padding, wrap)
    }

    /// An upper bound of the decoded length of `n` input bytes, in any mode.
    pub const fn estimated_decoded_length(&self, n: usize) -> usize {
        DecodeState::max_output(n)
    }

    /// Exact decoded length of unwrapped, well-formed input (as `Strict`
    /// accepts it); does not validate.
    pub fn decoded_length(&self, src: &[u8]) -> usize {
        let pads = src.iter().rev().take(2).take_while(|&&c| c == b'=').count();
        let chars = src.len() - pads;
        chars / 4 * 3 + [0, 0, 1, 2][chars % 4]
    }

    /// Encodes into `dst`, which must hold [`Self::encoded_length`] bytes;
    /// returns the bytes written.
    ///
    /// # Panics
    /// When `dst` is too short.
    pub fn encode(&self, src: &[u8], dst: &mut [u8]) -> usize {
        let n = self.encoded_length(src.len());
        check_room(dst.len(), n);
        let Some(engine) = self.engine.or_else(Engine::cached_default) else {
            return self.encode_resolving(src, dst);
        };
        encode::encode(
            engine,
            self.alphabet,
            self.padding,
            src,
            Out::from_init(dst),
        )
    }

    /// [`Self::encode`] on the first use of the process default: out of
    /// line, so that the usual path is one tail call (see
    /// [`Engine::cached_default`]).
    #[cold]
    #[inline(never)]
    fn encode_resolving(&self, src: &[u8], dst: &mut [u8]) -> usize {
        let engine = Engine::process_default();
        encode::encode(
            engine,
            self.alphabet,
            self.padding,
            src,
            Out::from_init(dst),
        )
    }

    /// Encodes into a new `Vec`.
    pub fn encode_to_vec(&self, src: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_append(src, &mut v);
        v
    }

    /// Encodes, appending to `out`.
    #[allow(unsafe_code)]
    pub fn encode_append(&self, src: &[u8], out: &mut Vec<u8>) {
        let n = self.encoded_length(src.len());
        let fill = |dst: Out<'_>| {
            Ok::<_, ()>(encode::encode(
                self.engine(),
                self.alphabet,
                self.padding,
                src,
                dst,
            ))
        };
        // SAFETY: `encode::encode` writes the bytes it reports.
        let _ = unsafe { uninit::append_with(out, n, fill) };
    }

    /// Encodes in lines (one fused pass) into `dst`, which must hold
    /// [`Self::encoded_length_wrapped`] bytes; returns the bytes written.
    ///
    /// # Panics
    /// When `dst` is too short.
    pub fn encode_wrapped(&self, src: &[u8], wrap: Wrap, dst: &mut [u8]) -> usize {
        let engine = self.engine.or_else(Engine::cached_default);
        // A short input at the MIME width, where the engine has a kernel for
        // the whole of it: that kernel checks the room itself, before it
        // writes (same rule and message), and this path stays a tail call.
        if let Some(e) = engine {
            if let Some(w) =
                e.encode_wrapped_whole(self.alphabet, self.padding, src, wrap, Out::from_init(dst))
            {
                return w;
            }
        }
        let n = self.encoded_length_wrapped(src.len(), wrap);
        check_room(dst.len(), n);
        let Some(engine) = engine else {
            return self.encode_wrapped_into(src, wrap, Out::from_init(dst));
        };
        encode::encode_wrapped(
            engine,
            self.alphabet,
            self.padding,
            src,
            wrap,
            Out::from_init(dst),
        )
    }

    /// Encodes in lines into a new `Vec`.
    pub fn encode_wrapped_to_vec(&self, src: &[u8], wrap: Wrap) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_wrapped_append(src, wrap, &mut v);
        v
    }

    /// Encodes in lines, appending to `out`.
    #[allow(unsafe_code)]
    pub fn encode_wrapped_append(&self, src: &[u8], wrap: Wrap, out: &mut Vec<u8>) {
        let n = self.encoded_length_wrapped(src.len(), wrap);
        let fill = |dst: Out<'_>| Ok::<_, ()>(self.encode_wrapped_into(src, wrap, dst));
        // SAFETY: `encode_wrapped_into` writes the bytes it reports.
        let _ = unsafe { uninit::append_with(out, n, fill) };
    }

    /// Encodes in lines into `dst` (at least `encoded_length_wrapped`
    /// long); returns the bytes written, every one of them.
    pub(crate) fn encode_wrapped_into(&self, src: &[u8], wrap: Wrap, dst: Out<'_>) -> usize {
        encode::encode_wrapped(self.engine(), self.alphabet, self.padding, src, wrap, dst)
    }

    /// Decodes into `dst`; returns the bytes written. A `dst` of
    /// [`Self::estimated_decoded_length`] bytes is always enough; a shorter
    /// one that still fits the output (the exact decoded length, say, which
    /// padding and line breaks put below the estimate) works too, at the
    /// cost of copying its last few hundred bytes through a stack buffer.
    ///
    /// # Panics
    /// When the decoded bytes do not fit in `dst`.
    pub fn decode(
        &self,
        src: &[u8],
        dst: &mut [u8],
        mode: DecodeMode,
    ) -> Result<usize, DecodeError> {
        if dst.len() >= self.estimated_decoded_length(src.len()) {
            return self.decode_into(self.rules(mode), src, Out::from_init(dst));
        }
        self.decode_short(self.rules(mode), src, dst)
    }

    /// [`Self::decode`] into a `dst` shorter than the estimate. The input
    /// goes in prefixes whose estimate fits what is left of `dst` (less one
    /// quantum: up to 3 characters of a prefix stay pending in the state, and
    /// with them the rest can write `max_output(rest) + 2` bytes); the last
    /// characters, once their estimate no longer fits, go through `tail`.
    /// Before, every such call decoded into a new `Vec` and copied: 61 ns
    /// became 96 for 1000 bytes.
    #[inline(never)] // its stack buffer and state stay out of `decode`'s frame
    fn decode_short(&self, rules: Rules, src: &[u8], dst: &mut [u8]) -> Result<usize, DecodeError> {
        const TAIL: usize = 256;
        let mut state = self.decode_state(rules);
        let (mut i, mut w) = (0, 0);
        loop {
            let room = (dst.len() - w).saturating_sub(3);
            let rest = DecodeState::max_output(src.len() - i);
            if rest <= room {
                w += state.feed(&src[i..], Out::from_init(&mut dst[w..]))?;
                return Ok(w + state.finish(Out::from_init(&mut dst[w..]))?);
            }
            if room < 64 || rest <= TAIL {
                break;
            }
            // Cut after a line break in the piece's last 256 characters where
            // there is one: a piece that starts mid-line goes byte by byte up
            // to the next break (70 ns of a 1000-byte MIME decode when it did).
            let take = room / 3 * 4;
            let look = take - take.min(256);
            let take =
                memchr::memrchr(b'\n', &src[i + look..i + take]).map_or(take, |at| look + at + 1);
            w += state.feed(&src[i..i + take], Out::from_init(&mut dst[w..]))?;
            i += take;
        }
        let mut tail = [MaybeUninit::<u8>::uninit(); TAIL];
        let mut spill = Vec::new();
        let rest = DecodeState::max_output(src.len() - i);
        let buf: &mut [MaybeUninit<u8>] = if rest <= TAIL {
            &mut tail
        } else {
            // `dst` is too short, or the rest is mostly whitespace: decode
            // it to learn how much it needs.
            spill.resize(rest, MaybeUninit::uninit());
            &mut spill
        };
        let mut last = [MaybeUninit::<u8>::uninit(); 2];
        let a = state.feed_buf(&src[i..], buf)?;
        let b = state.finish_buf(&mut last)?;
        let need = w + a.len() + b.len();
        check_room(dst.len(), need);
        dst[w..w + a.len()].copy_from_slice(a);
        dst[need - b.len()..need].copy_from_slice(b);
        Ok(need)
    }

    /// Decodes into a new `Vec`.
    pub fn decode_to_vec(&self, src: &[u8], mode: DecodeMode) -> Result<Vec<u8>, DecodeError> {
        let mut v = Vec::new();
        self.decode_append(src, mode, &mut v)?;
        Ok(v)
    }

    /// Decodes, appending to `out`; returns the bytes appended. On error,
    /// `out` is left as it was.
    pub fn decode_append(
        &self,
        src: &[u8],
        mode: DecodeMode,
        out: &mut Vec<u8>,
    ) -> Result<usize, DecodeError> {
        self.decode_append_rules(self.rules(mode), src, out)
    }

    #[allow(unsafe_code)]
    pub(crate) fn decode_append_rules(
        &self,
        rules: Rules,
        src: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, DecodeError> {
        let n = self.estimated_decoded_length(src.len());
        let fill = |dst: Out<'_>| self.decode_into(rules, src, dst);
        // SAFETY: `decode_into` writes the bytes it reports.
        unsafe { uninit::append_with(out, n, fill) }
    }

    /// One-shot decode; `dst` holds at least `estimated_decoded_length`.
    /// Returns the bytes written, every one of them.
    pub(crate) fn decode_into(
        &self,
        rules: Rules,
        src: &[u8],
        dst: Out<'_>,
    ) -> Result<usize, DecodeError> {
        DecodeState::decode_all(self.engine(), self.alphabet, rules, src, dst)
    }

    pub(crate) fn decode_state(&self, rules: Rules) -> DecodeState {
        DecodeState::new(self.engine(), self.alphabet, rules)
    }
}
