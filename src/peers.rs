//! Other Base64 codecs, behind one interface, for the criterion benches and
//! `mimeflow bench` (feature `bench-peers`).
//!
//! Every contender turns an input into an output written into a buffer the
//! harness sized beforehand (no allocation while timing) and returns the
//! bytes written. Where a peer cannot do an operation natively it is composed
//! from what it can do, and its name says so (`simdutf (LF lines)`,
//! `base64 strip+decode`, ...). Each contender declares what its output is
//! checked against ([`Reference`]): the reference output, that output with
//! an optional last LF (simdutf's wrapped encode), or the input (the
//! ceilings). CRLF MIME encode meets peers writing CRLF; simdutf's wrapped
//! encode, which writes LF only, meets ours on the LF operation.
#![allow(unsafe_code)]

use base64::Engine as _;

use crate::base64::{Backend, Base64, DecodeMode, LineEnding, Wrap, STANDARD};

/// 76-column lines ended by a bare LF: [`Op::MimeEncodeLf`]'s wrapping, the
/// layout simdutf's wrapped encode writes.
pub const WRAP_LF: Wrap = Wrap::new(76, LineEnding::Lf);

/// The benchmarked operations. Inputs: raw bytes for the encoders, canonical
/// Base64 for `Decode`, 76-column CRLF MIME text for `MimeDecode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Plain, padded, standard alphabet.
    Encode,
    /// Canonical input, no whitespace.
    Decode,
    /// 76 columns, CRLF line endings.
    MimeEncode,
    /// 76 columns, LF line endings ([`WRAP_LF`]): compared with simdutf's
    /// wrapped encode, which writes LF only, so that each layout meets peers
    /// writing the same bytes.
    MimeEncodeLf,
    /// 76-column CRLF text, whitespace skipped.
    MimeDecode,
}

impl Op {
    /// Every operation.
    pub const ALL: [Op; 5] = [
        Op::Encode,
        Op::Decode,
        Op::MimeEncode,
        Op::MimeEncodeLf,
        Op::MimeDecode,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Encode => "encode",
            Op::Decode => "decode",
            Op::MimeEncode => "mime-encode",
            Op::MimeEncodeLf => "mime-encode-lf",
            Op::MimeDecode => "mime-decode",
        }
    }

    /// The input this operation consumes, made from `raw` bytes.
    pub fn input(self, raw: &[u8]) -> Vec<u8> {
        match self {
            Op::Encode | Op::MimeEncode | Op::MimeEncodeLf => raw.to_vec(),
            Op::Decode => STANDARD.encode_to_vec(raw),
            Op::MimeDecode => STANDARD.encode_wrapped_to_vec(raw, Wrap::MIME),
        }
    }

    /// The reference output for `input`, from the scalar backend.
    pub fn expected(self, input: &[u8]) -> Vec<u8> {
        let scalar = STANDARD
            .with_backend(Backend::Scalar)
            .expect("scalar always runs");
        match self {
            Op::Encode => scalar.encode_to_vec(input),
            Op::MimeEncode => scalar.encode_wrapped_to_vec(input, Wrap::MIME),
            Op::MimeEncodeLf => scalar.encode_wrapped_to_vec(input, WRAP_LF),
            Op::Decode => scalar
                .decode_to_vec(input, DecodeMode::Strict)
                .expect("valid input"),
            Op::MimeDecode => scalar
                .decode_to_vec(input, DecodeMode::Mime)
                .expect("valid input"),
        }
    }

    /// Output room every contender gets for `input` (enough for any of the
    /// operations and for `memcpy`).
    pub fn output_room(self, input: &[u8]) -> usize {
        input.len() * 2 + 64
    }
}

/// Runs an operation: input, output room; returns the bytes written.
pub type RunFn = Box<dyn Fn(&[u8], &mut [u8]) -> usize + Send + Sync>;

/// What a contender's output is checked against before it is timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reference {
    /// The operation's reference output ([`Op::expected`]), byte for byte.
    #[default]
    Expected,
    /// The reference output with every CRLF written as a bare LF, the last
    /// line's LF optional: for a peer that wraps with LF only and may end
    /// without a line end (`simdutf (LF lines)`, run on the LF operation
    /// [`Op::MimeEncodeLf`], whose reference has no CR to drop).
    LfLines,
    /// The input, copied to the front of the output: the `memcpy` ceilings.
    /// Bytes written beyond the input's length are not checked.
    Input,
}

impl Reference {
    /// Whether `output` (what the contender wrote for `input`) is right,
    /// given the operation's reference output `expected`.
    pub fn accepts(self, input: &[u8], expected: &[u8], output: &[u8]) -> bool {
        match self {
            Reference::Expected => output == expected,
            Reference::LfLines => {
                // The reference with CRLF turned into LF; a peer may leave
                // the last line without its line end.
                let lf: Vec<u8> = expected.iter().copied().filter(|&c| c != b'\r').collect();
                output == &lf[..] || (lf.last() == Some(&b'\n') && output == &lf[..lf.len() - 1])
            }
            Reference::Input => {
                let k = output.len().min(input.len());
                output[..k] == input[..k]
            }
        }
    }
}

/// A codec under test.
pub struct Contender {
    /// `mimeflow/<backend>`, the peer crate's name (and engine), or `memcpy`.
    pub name: String,
    /// Runs the operation: input, output room; returns the bytes written.
    pub run: RunFn,
    /// What the output is checked against.
    pub reference: Reference,
}

impl Contender {
    /// A contender checked against the operation's reference output.
    pub fn new(
        name: impl Into<String>,
        run: impl Fn(&[u8], &mut [u8]) -> usize + Send + Sync + 'static,
    ) -> Self {
        Contender {
            name: name.into(),
            run: Box::new(run),
            reference: Reference::Expected,
        }
    }

    /// The same contender, checked against `reference` instead.
    pub fn with_reference(self, reference: Reference) -> Self {
        Contender { reference, ..self }
    }

    /// Whether `output` is a correct result for `input` (see [`Reference`]).
    pub fn accepts(&self, input: &[u8], expected: &[u8], output: &[u8]) -> bool {
        self.reference.accepts(input, expected, output)
    }
}

/// mimeflow on `backend`.
pub fn mimeflow(op: Op, backend: Backend) -> Option<Contender> {
    let c: Base64 = STANDARD.with_backend(backend)?;
    let name = format!("mimeflow/{}", backend.name());
    Some(match op {
        Op::Encode => Contender::new(name, move |i, o| c.encode(i, o)),
        Op::Decode => Contender::new(name, move |i, o| {
            c.decode(i, o, DecodeMode::Strict).expect("valid")
        }),
        Op::MimeEncode => Contender::new(name, move |i, o| c.encode_wrapped(i, Wrap::MIME, o)),
        Op::MimeEncodeLf => Contender::new(name, move |i, o| c.encode_wrapped(i, WRAP_LF, o)),
        Op::MimeDecode => Contender::new(name, move |i, o| {
            c.decode(i, o, DecodeMode::Mime).expect("valid")
        }),
    })
}

/// Every mimeflow backend this CPU runs, then every peer, then the two
/// `memcpy` ceilings.
pub fn contenders(op: Op) -> Vec<Contender> {
    let mut v: Vec<Contender> = Backend::available()
        .into_iter()
        .filter_map(|b| mimeflow(op, b))
        .collect();
    v.extend(peers(op));
    v.push(memcpy());
    v.push(memcpy_traffic(op));
    v
}

/// The plain ceiling: copying the input (reads and writes the input's length).
pub fn memcpy() -> Contender {
    Contender::new("memcpy", |i, o| {
        o[..i.len()].copy_from_slice(i);
        i.len()
    })
    .with_reference(Reference::Input)
}

/// Name of the [`memcpy_traffic`] ceiling.
pub const MEMCPY_TRAFFIC: &str = "memcpy (in+out)";

/// The fair ceiling: a memcpy that moves as many bytes as the codec does.
///
/// A codec reads `in` bytes and writes `out`; a copy of `m` bytes reads `m`
/// and writes `m`. This contender copies `m = (in + out) / 2` bytes, so its
/// memory traffic equals the codec's, and (like every contender) it is
/// reported in GB/s of the codec's *input* bytes: the ratio to it is the
/// one the "at 16 MiB, >= 0.9x memcpy moving the same bytes" target speaks
/// of. `out` is the exact output length for the encoders and the canonical
/// decode; for MIME decode it assumes 76-column CRLF lines, as the workloads
/// have. Where `m` exceeds the input (encoders), the input is copied again
/// from its start, as often as it takes (more than once below 3 bytes).
pub fn memcpy_traffic(op: Op) -> Contender {
    Contender::new(MEMCPY_TRAFFIC, move |i, o| {
        let out = match op {
            Op::Encode => STANDARD.encoded_length(i.len()),
            Op::MimeEncode => STANDARD.encoded_length_wrapped(i.len(), Wrap::MIME),
            Op::MimeEncodeLf => STANDARD.encoded_length_wrapped(i.len(), WRAP_LF),
            Op::Decode => STANDARD.decoded_length(i),
            Op::MimeDecode => (i.len() - i.len().div_ceil(78) * 2) / 4 * 3,
        };
        let m = if i.is_empty() { 0 } else { (i.len() + out) / 2 };
        let mut w = 0;
        while w < m {
            let k = (m - w).min(i.len());
            o[w..w + k].copy_from_slice(&i[..k]);
            w += k;
        }
        m
    })
    .with_reference(Reference::Input)
}

/// The peers for `op`.
pub fn peers(op: Op) -> Vec<Contender> {
    let gp = base64::engine::general_purpose::STANDARD;
    let simd = base64::engine::Simd::standard(base64::engine::general_purpose::PAD);
    let de = data_encoding::BASE64;
    let de_wrapped = |separator: &str| {
        let mut spec = data_encoding::BASE64.specification();
        spec.wrap.width = 76;
        spec.wrap.separator = separator.into();
        spec.ignore.push_str("\r\n");
        spec.encoding().expect("valid data-encoding spec")
    };
    let de_mime = de_wrapped("\r\n");
    let de_lf = de_wrapped("\n");
    match op {
        Op::Encode => vec![
            Contender::new("base64/general-purpose", move |i, o| {
                gp.encode_slice(i, o).expect("room")
            }),
            Contender::new("base64/simd", move |i, o| {
                simd.encode_slice(i, o).expect("room")
            }),
            Contender::new("base64-simd", |i, o| {
                base64_simd::STANDARD
                    .encode(i, base64_simd::Out::from_slice(o))
                    .len()
            }),
            Contender::new("data-encoding", move |i, o| {
                let n = de.encode_len(i.len());
                de.encode_mut(i, &mut o[..n]);
                n
            }),
            Contender::new("simdutf", simdutf_encode),
        ],
        Op::Decode => vec![
            Contender::new("base64/general-purpose", move |i, o| {
                gp.decode_slice(i, o).expect("valid")
            }),
            Contender::new("base64/simd", move |i, o| {
                simd.decode_slice(i, o).expect("valid")
            }),
            Contender::new("base64-simd", |i, o| {
                base64_simd::STANDARD
                    .decode(i, base64_simd::Out::from_slice(o))
                    .expect("valid")
                    .len()
            }),
            Contender::new("data-encoding", move |i, o| {
                let n = de.decode_len(i.len()).expect("valid length");
                de.decode_mut(i, &mut o[..n]).expect("valid")
            }),
            Contender::new("simdutf", simdutf_decode),
        ],
        Op::MimeEncode => vec![
            Contender::new("base64/simd encode+insert-CRLF", move |i, o| {
                let mut tmp = vec![0u8; i.len().div_ceil(3) * 4];
                let n = simd.encode_slice(i, &mut tmp).expect("room");
                insert_crlf(&tmp[..n], o)
            }),
            Contender::new("data-encoding", move |i, o| {
                let n = de_mime.encode_len(i.len());
                de_mime.encode_mut(i, &mut o[..n]);
                n
            }),
            // simdutf cannot write CRLF: here it encodes and a second pass
            // lays out CRLF lines; its own wrapped encode (LF only) meets
            // ours in `MimeEncodeLf`, writing the same bytes.
            Contender::new("simdutf encode+insert-CRLF", |i, o| {
                let mut tmp = vec![0u8; i.len().div_ceil(3) * 4];
                let n = simdutf_encode(i, &mut tmp);
                insert_crlf(&tmp[..n], o)
            }),
        ],
        Op::MimeEncodeLf => vec![
            Contender::new("data-encoding", move |i, o| {
                let n = de_lf.encode_len(i.len());
                de_lf.encode_mut(i, &mut o[..n]);
                n
            }),
            // simdutf may leave the last line without its LF; the reference
            // says which forms are accepted.
            Contender::new(SIMDUTF_LF_LINES, simdutf_encode_lines)
                .with_reference(Reference::LfLines),
        ],
        Op::MimeDecode => vec![
            Contender::new("base64/simd strip+decode", move |i, o| {
                let clean: Vec<u8> = i
                    .iter()
                    .copied()
                    .filter(|&c| c != b'\r' && c != b'\n')
                    .collect();
                simd.decode_slice(&clean, o).expect("valid")
            }),
            Contender::new("base64-simd forgiving", |i, o| {
                base64_simd::forgiving_decode(i, base64_simd::Out::from_slice(o))
                    .expect("valid")
                    .len()
            }),
            Contender::new("data-encoding", move |i, o| {
                let n = de_mime.decode_len(i.len()).expect("valid length");
                de_mime.decode_mut(i, &mut o[..n]).expect("valid")
            }),
            Contender::new("simdutf", simdutf_decode),
        ],
    }
}

/// Name of simdutf's LF-wrapped encode (checked against the LF reference).
pub const SIMDUTF_LF_LINES: &str = "simdutf (LF lines)";

/// Lays `encoded` out in 76-column CRLF lines (the composed peers' second pass).
fn insert_crlf(encoded: &[u8], out: &mut [u8]) -> usize {
    let mut w = 0;
    for line in encoded.chunks(76) {
        out[w..w + line.len()].copy_from_slice(line);
        w += line.len();
        out[w..w + 2].copy_from_slice(b"\r\n");
        w += 2;
    }
    w
}

fn simdutf_encode(i: &[u8], o: &mut [u8]) -> usize {
    let n = simdutf::base64_length_from_binary(i.len(), simdutf::Base64Options::Default);
    assert!(o.len() >= n);
    // SAFETY: `o` holds the encoded length simdutf computes for this input.
    unsafe {
        simdutf::binary_to_base64(
            i.as_ptr(),
            i.len(),
            o.as_mut_ptr(),
            simdutf::Base64Options::Default,
        )
    }
}

fn simdutf_encode_lines(i: &[u8], o: &mut [u8]) -> usize {
    let opts = simdutf::Base64Options::Default;
    let n = simdutf::base64_length_from_binary_with_lines(i.len(), opts, 76);
    assert!(o.len() >= n);
    // SAFETY: `o` holds the wrapped length simdutf computes for this input.
    unsafe { simdutf::binary_to_base64_with_lines(i.as_ptr(), i.len(), o.as_mut_ptr(), 76, opts) }
}

fn simdutf_decode(i: &[u8], o: &mut [u8]) -> usize {
    // SAFETY: reads `i` only; the bound it returns sizes the check below.
    let max = unsafe { simdutf::maximal_binary_length_from_base64(i.as_ptr(), i.len()) };
    assert!(o.len() >= max);
    // SAFETY: `o` holds simdutf's maximal binary length for this input.
    let r = unsafe {
        simdutf::base64_to_binary(
            i.as_ptr(),
            i.len(),
            o.as_mut_ptr(),
            simdutf::Base64Options::Default,
            simdutf::LastChunkHandlingOptions::Loose,
        )
    };
    assert_eq!(
        r.error,
        simdutf::ErrorCode::Success,
        "simdutf rejected valid input"
    );
    r.count
}
