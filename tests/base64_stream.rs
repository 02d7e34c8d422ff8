//! Streaming and parallel paths must give exactly the one-shot results,
//! errors and their offsets included, however the input is cut.

use std::io::Write;

use mimeflow::base64::stream::{decode_stream, encode_stream, DecoderWriter, EncoderWriter};
use mimeflow::base64::StreamError as Error;
use mimeflow::base64::{Backend, DecodeMode, LineEnding, Wrap, STANDARD};
use proptest::prelude::*;

fn chunked(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut pieces = Vec::new();
    let mut rest = data;
    for &c in cuts {
        let c = c.min(rest.len());
        let (a, b) = rest.split_at(c);
        pieces.push(a.to_vec());
        rest = b;
    }
    pieces.push(rest.to_vec());
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn encoder_writer_matches_one_shot(
        data in proptest::collection::vec(any::<u8>(), 0..5000),
        cuts in proptest::collection::vec(0usize..700, 0..12),
        cols in prop::sample::select(vec![0usize, 1, 4, 75, 76]),
        crlf in any::<bool>(),
    ) {
        let wrap = Wrap::new(cols, if crlf { LineEnding::Crlf } else { LineEnding::Lf });
        for b in Backend::available() {
            let codec = STANDARD.with_backend(b).unwrap();
            let mut enc = EncoderWriter::new(Vec::new(), codec, wrap);
            for piece in chunked(&data, &cuts) {
                enc.write_all(&piece).unwrap();
            }
            let streamed = enc.finish().unwrap();
            prop_assert_eq!(streamed, codec.encode_wrapped_to_vec(&data, wrap));
        }
    }

    #[test]
    fn decoder_writer_matches_one_shot(
        data in proptest::collection::vec(any::<u8>(), 0..5000),
        cuts in proptest::collection::vec(0usize..700, 0..12),
        noise in proptest::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec![b'\n', b' ', b'=', b'!', b'Q'])), 0..3),
    ) {
        let mut text = STANDARD.encode_wrapped_to_vec(&data, Wrap::MIME);
        for (idx, byte) in noise {
            let at = idx.index(text.len() + 1);
            text.insert(at, byte);
        }
        for b in Backend::available() {
            let codec = STANDARD.with_backend(b).unwrap();
            for mode in [DecodeMode::Strict, DecodeMode::Mime, DecodeMode::Lenient] {
                let one_shot = codec.decode_to_vec(&text, mode);
                let mut dec = DecoderWriter::new(Vec::new(), codec, mode);
                let mut streamed = Ok(());
                for piece in chunked(&text, &cuts) {
                    if let Err(e) = dec.write_all(&piece) {
                        streamed = Err(e);
                        break;
                    }
                }
                let streamed = match streamed {
                    Ok(()) => dec.finish().map_err(|e| match e { Error::Decode(d) => d, e => panic!("{e}") }),
                    Err(e) => Err(*e.into_inner().unwrap().downcast::<mimeflow::DecodeError>().unwrap()),
                };
                prop_assert_eq!(streamed, one_shot, "{:?} {:?}", b, mode);
            }
        }
    }
}

#[test]
fn stream_functions_round_trip() {
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let mut encoded = Vec::new();
    let n = encode_stream(&mut &data[..], &mut encoded, STANDARD, Wrap::MIME).unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(encoded, STANDARD.encode_wrapped_to_vec(&data, Wrap::MIME));
    let mut decoded = Vec::new();
    let n = decode_stream(&mut &encoded[..], &mut decoded, STANDARD, DecodeMode::Mime).unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(decoded, data);
    // An error deep in the stream reports its absolute offset.
    let mut bad = encoded.clone();
    bad[700_001] = b'*';
    let err =
        decode_stream(&mut &bad[..], &mut Vec::new(), STANDARD, DecodeMode::Mime).unwrap_err();
    match err {
        Error::Decode(d) => assert_eq!(d.offset(), 700_001),
        e => panic!("{e}"),
    }
}

#[cfg(feature = "parallel")]
#[test]
fn parallel_matches_sequential() {
    // Just past the threshold, so the split path runs with several chunks;
    // the chunking is backend-independent, so the best backend suffices (the
    // backends are compared with each other everywhere else).
    let size = mimeflow::base64::PARALLEL_THRESHOLD + 12345;
    let data: Vec<u8> = (0..size as u32).map(|i| (i ^ (i >> 9)) as u8).collect();
    for b in [Backend::best()] {
        for codec in [
            STANDARD.with_backend(b).unwrap(),
            mimeflow::base64::URL_SAFE_NO_PAD.with_backend(b).unwrap(),
        ] {
            for wrap in [
                Wrap::NONE,
                Wrap::MIME,
                Wrap::new(76, LineEnding::Lf),
                Wrap::new(75, LineEnding::Crlf),
            ] {
                let par = codec.par_encode_wrapped_to_vec(&data, wrap);
                assert_eq!(
                    par,
                    codec.encode_wrapped_to_vec(&data, wrap),
                    "{b:?} {wrap:?}"
                );
                // Appending after what is there (an unaligned start for the
                // chunks' streaming stores) keeps it and adds the same.
                let mut appended = b"xyz".to_vec();
                codec.par_encode_wrapped_append(&data, wrap, &mut appended);
                assert!(appended[..3] == *b"xyz" && appended[3..] == par[..]);
                let mode = if wrap.cols == 0 {
                    DecodeMode::Strict
                } else {
                    DecodeMode::Mime
                };
                assert_eq!(codec.par_decode_to_vec(&par, mode).unwrap(), data);
                assert_eq!(
                    codec.par_decode_to_vec(&par, DecodeMode::Lenient).unwrap(),
                    data
                );
                // Errors: same kind and offset as the sequential decoder, wherever they are.
                for at in [10, par.len() / 2 + 1, par.len() - 5] {
                    let mut bad = par.clone();
                    bad[at] = b'*';
                    assert_eq!(
                        codec.par_decode_to_vec(&bad, mode),
                        codec.decode_to_vec(&bad, mode)
                    );
                    bad[at] = b'=';
                    assert_eq!(
                        codec.par_decode_to_vec(&bad, mode),
                        codec.decode_to_vec(&bad, mode)
                    );
                    assert_eq!(
                        codec.par_decode_to_vec(&bad, DecodeMode::Lenient),
                        codec.decode_to_vec(&bad, DecodeMode::Lenient)
                    );
                }
            }
        }
    }
}

/// Widths whose lines are longer than the encoder's block (and widths
/// whose `cols * 4` overflows) stream too: same bytes as the one-shot
/// encoder however the input is cut, lines carried across blocks.
#[test]
fn encoder_writer_any_width() {
    let data: Vec<u8> = (0..700_000u32).map(|i| (i * 31 + i / 7) as u8).collect();
    let widths = [
        0,
        76,
        262_144,
        262_145,
        300_001,
        1_000_000_001,
        (1usize << 62) + 1,
        usize::MAX / 4 + 1,
        usize::MAX,
    ];
    let cuts: [&[usize]; 3] = [&[], &[1, 196_607, 2, 5000], &[393_216, 3, 3, 196_609]];
    for cols in widths {
        for line_ending in [LineEnding::Lf, LineEnding::Crlf] {
            let wrap = Wrap::new(cols, line_ending);
            for n in [0, 1, 196_608, 196_609, 524_291, data.len()] {
                let want = STANDARD.encode_wrapped_to_vec(&data[..n], wrap);
                for c in cuts {
                    let mut enc = EncoderWriter::new(Vec::new(), STANDARD, wrap);
                    for piece in chunked(&data[..n], c) {
                        enc.write_all(&piece).unwrap();
                    }
                    let got = enc.finish().unwrap();
                    assert!(
                        got == want,
                        "cols {cols}, {line_ending:?}, {n} bytes, cuts {c:?}"
                    );
                }
            }
        }
    }
}

/// A reader that hands out at most `step` bytes a call, so the parallel
/// stream functions must top up short reads.
#[cfg(feature = "parallel")]
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

#[cfg(feature = "parallel")]
impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// `par_encode_stream` and `par_decode_stream` (the CLI's `b64` at -j2 and up)
/// give the bytes, counts and errors of the one-thread stream functions:
/// inputs of several blocks, a whole number of blocks, tiny and empty;
/// regular lines, irregular ones from the second block on, padding and bad
/// bytes in the first, a middle and the last block; short reads.
#[cfg(feature = "parallel")]
#[test]
fn parallel_streams_match_sequential() {
    use mimeflow::base64::stream::{par_decode_stream, par_encode_stream};
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let block = mimeflow::base64::stream::PIPE_BLOCK;
    let big: Vec<u8> = (0..block * 5 / 2 + 7)
        .map(|i| (i ^ (i >> 11) ^ (i >> 19)) as u8)
        .collect();
    // 57 input bytes make one 76-column line: a whole number of blocks.
    let whole = &big[..block.div_ceil(57) * 57 * 2];
    let enc = |data: &[u8], wrap: Wrap| {
        let mut out = Vec::new();
        let n = encode_stream(&mut &data[..], &mut out, STANDARD, wrap).unwrap();
        (n, out)
    };
    for data in [&big[..], whole, &big[..100], &[][..]] {
        for wrap in [
            Wrap::NONE,
            Wrap::MIME,
            Wrap::new(76, LineEnding::Lf),
            Wrap::new(75, LineEnding::Crlf),
            Wrap::new(1_000_000, LineEnding::Lf),
            Wrap::new(usize::MAX, LineEnding::Lf),
        ] {
            let mut out = Vec::new();
            let mut reader = Trickle {
                data,
                step: 3_000_001,
            };
            let n = pool
                .install(|| par_encode_stream(&mut reader, &mut out, STANDARD, wrap))
                .unwrap();
            let (want_n, want) = enc(data, wrap);
            assert_eq!(n, want_n, "{wrap:?} {}", data.len());
            assert!(out == want, "{wrap:?} {}", data.len());
        }
    }

    let dec = |src: &[u8], mode: DecodeMode, step: usize| {
        let mut out = Vec::new();
        let mut reader = Trickle { data: src, step };
        let r = pool.install(|| par_decode_stream(&mut reader, &mut out, STANDARD, mode));
        let mut want_out = Vec::new();
        let want = decode_stream(&mut &src[..], &mut want_out, STANDARD, mode);
        match (r, want) {
            (Ok(n), Ok(w)) => {
                assert_eq!(n, w, "{mode:?}");
                assert!(out == want_out, "{mode:?} {}", src.len());
            }
            (r, want) => assert_eq!(format!("{r:?}"), format!("{want:?}"), "{mode:?}"),
        }
    };
    let mime = enc(&big, Wrap::MIME).1;
    let lf = enc(&big, Wrap::new(76, LineEnding::Lf)).1;
    let flat = enc(&big, Wrap::NONE).1;
    let exact = enc(whole, Wrap::MIME).1;
    for (src, modes) in [
        (&mime, &[DecodeMode::Mime, DecodeMode::Lenient][..]),
        (&lf, &[DecodeMode::Mime][..]),
        (&flat, &[DecodeMode::Strict, DecodeMode::Mime][..]),
        (&exact, &[DecodeMode::Mime][..]),
    ] {
        for &mode in modes {
            dec(src, mode, 1 << 20);
            for at in [10, block + 77, block * 2 + 3, src.len() - 3] {
                let mut bad = src.clone();
                bad[at] = b'*';
                dec(&bad, mode, 5_000_003);
                bad[at] = b'=';
                dec(&bad, mode, 5_000_003);
            }
            // An extra line break: the lines are no longer regular there.
            let mut odd = src.clone();
            odd.insert(block + 1000, b'\n');
            dec(&odd, mode, 1 << 20);
        }
    }
    dec(b"", DecodeMode::Mime, 1);
    dec(b"QUJD\n", DecodeMode::Mime, 1);
}
