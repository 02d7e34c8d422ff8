//! Differential: the streaming `Scanner` (fuzzer-chosen chunk sizes), the
//! one-shot `split` and a naive line-by-line splitter agree on every body and
//! boundary. Inputs are remapped into a multipart-ish alphabet half the time
//! so the fuzzer reaches delimiter lines quickly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::multipart::{split, Event, Scanner, Split};

/// Obviously correct reference: walk the body line by line.
fn naive(body: &[u8], boundary: &[u8]) -> Split {
    let mut out = Split {
        preamble: 0..body.len(),
        parts: Vec::new(),
        epilogue: None,
        closed: false,
    };
    if boundary.contains(&b'\r') || boundary.contains(&b'\n') {
        return out;
    }
    // bcharsnospace: a parameter's trailing blanks are transport padding.
    let boundary = &boundary[..boundary
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1)];
    let (mut part, mut start, mut prev_eol) = (None::<usize>, 0, 0);
    loop {
        let (mut end, next, lf) = match body[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (start + i, start + i + 1, true),
            None => (body.len(), body.len(), false),
        };
        if end > start && body[end - 1] == b'\r' {
            end -= 1;
        }
        let close = body[start..end]
            .strip_prefix(b"--")
            .and_then(|l| l.strip_prefix(boundary))
            .and_then(|r| {
                let (close, pad) = match r.strip_prefix(b"--") {
                    Some(p) => (true, p),
                    None => (false, r),
                };
                pad.iter()
                    .all(|&b| b == b' ' || b == b'\t')
                    .then_some(close)
            });
        if let Some(close) = close {
            let e = (start - prev_eol).max(part.unwrap_or(0));
            match part {
                // An opening delimiter right after a delimiter line repeats it.
                Some(s) if s == start && !close => {}
                Some(s) => out.parts.push(s..e),
                None => out.preamble = 0..e,
            }
            if close {
                out.closed = true;
                out.epilogue = Some(next..body.len());
                return out;
            }
            part = Some(next);
        }
        if !lf {
            break;
        }
        prev_eol = next - end;
        start = next;
    }
    if let Some(s) = part {
        out.parts.push(s..body.len());
    }
    out
}

fn remap(b: u8) -> u8 {
    b"--\r\n\n- \tbX"[b as usize % 10]
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let (head, rest) = input.split_at(3);
    let blen = (head[0] % 8) as usize;
    let sizes = &head[1..];
    let (boundary, body) = rest.split_at(blen.min(rest.len()));
    let (boundary, body) = if head[0] & 0x80 != 0 {
        (
            boundary.iter().map(|&b| remap(b)).collect::<Vec<_>>(),
            body.iter().map(|&b| remap(b)).collect::<Vec<_>>(),
        )
    } else {
        (boundary.to_vec(), body.to_vec())
    };

    let want = naive(&body, &boundary);
    let got = split(&body, &boundary);
    assert_eq!(got, want);

    let mut sc = Scanner::new(&boundary);
    let mut ev = Vec::new();
    let mut rest = &body[..];
    let mut k = 0;
    while !rest.is_empty() {
        let n = (sizes[k % 2] as usize % 17).min(rest.len());
        k += 1;
        sc.push(&rest[..n], &mut ev);
        rest = &rest[n..];
        if k > 4 * body.len() + 8 {
            sc.push(rest, &mut ev);
            break;
        }
    }
    let closed = sc.finish(&mut ev);
    let mut expect = Vec::new();
    for p in &want.parts {
        expect.push(Event::PartStart {
            offset: p.start as u64,
        });
        expect.push(Event::PartEnd {
            offset: p.end as u64,
        });
    }
    if let Some(e) = &want.epilogue {
        expect.push(Event::Close {
            offset: e.start as u64,
        });
    }
    assert_eq!(ev, expect);
    assert_eq!(closed, want.closed);
});
