//! # mimeflow
//!
//! A high-throughput MIME and Base64 engine. The performance core is a Base64
//! codec with hand-written AVX-512 VBMI and AVX2 kernels (chosen at runtime,
//! per codec value), falling back to the portable `base64-simd` kernels and a
//! scalar reference.
//!
//! ```
//! use mimeflow::base64::{Base64, DecodeMode, Wrap, STANDARD};
//!
//! let encoded = STANDARD.encode_to_vec(b"hello, world");
//! assert_eq!(encoded, b"aGVsbG8sIHdvcmxk");
//!
//! // MIME bodies: 76-column lines ended by CRLF, decoded skipping whitespace.
//! let body = STANDARD.encode_wrapped_to_vec(&[0xAB; 100], Wrap::MIME);
//! assert!(body.starts_with(b"q6ur"));
//! let back = STANDARD.decode_to_vec(&body, DecodeMode::Mime).unwrap();
//! assert_eq!(back, vec![0xAB; 100]);
//!
//! // Errors carry their kind and byte offset.
//! let err = STANDARD.decode_to_vec(b"QUJD!", DecodeMode::Strict).unwrap_err();
//! assert_eq!(err.offset(), 4);
//! # let _ = Base64::new;
//! ```
//!
//! ## Cargo features
//! - `parallel` (default): rayon-backed `par_*` entry points for large buffers.
//! - `cli` (off by default): what the `mimeflow` binary needs (clap, the
//!   progress bar, the chart, the peer codecs). A library user builds none of it.
//! - `python`: the PyO3 extension module `mimeflow._native` (maturin turns it on).
//! - `bench-peers`: other codecs measured by the benches and `mimeflow bench`.
//! - `dkim` (on with `cli` and `python`): DKIM verification and signing
//!   ([`dkim`]), with aws-lc-rs's cryptography.
//!
//! ## Environment
//! `MIMEFLOW_SIMD=scalar|base64-simd|avx2|avx512vbmi` sets the process-wide
//! *default* backend. A backend can always be chosen per codec value with
//! [`base64::Base64::with_backend`], so tests never race on a global switch.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

pub mod base64;
pub mod batch;
#[cfg(feature = "bench-peers")]
pub mod bench;
pub mod charset;
pub mod compose;
pub mod defect;
#[cfg(feature = "dkim")]
pub mod dkim;
pub mod error;
pub mod extract;
pub mod header;
pub mod mbox;
pub mod message;
pub mod multipart;
#[cfg(feature = "bench-peers")]
pub mod peers;
pub mod qp;
#[cfg(feature = "parallel")]
pub mod rows;
#[cfg(unix)]
pub mod safe_fs;
pub mod uu;

#[cfg(feature = "python")]
mod python;

mod io_util;
mod newlines;
mod uninit;

pub use error::{DecodeError, DecodeErrorKind};
