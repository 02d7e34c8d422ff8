//! Backend selection: which kernels this CPU can run, detected once.
//!
//! A backend is chosen per codec value ([`super::Base64::with_backend`]), never
//! through a mutable global, so tests and benches can drive every backend in
//! one process without racing. `MIMEFLOW_SIMD` only sets the process default,
//! read once, the first time a codec without an explicit backend runs.

use std::sync::OnceLock;

/// A family of kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Portable scalar code, also the reference in tests.
    Scalar,
    /// The `base64-simd` crate's kernels (SSE4.1/AVX2/NEON/WASM, detected by it).
    /// Serves plain encode/decode; MIME whitespace goes line by line.
    Base64Simd,
    /// Hand-written AVX2 kernels.
    Avx2,
    /// Hand-written AVX-512 VBMI kernels (VBMI2 compaction where available).
    Avx512Vbmi,
}

impl Backend {
    /// Every backend, slowest first.
    pub const ALL: [Backend; 4] = [
        Backend::Scalar,
        Backend::Base64Simd,
        Backend::Avx2,
        Backend::Avx512Vbmi,
    ];

    /// The name used by `MIMEFLOW_SIMD`, the CLI and the benches.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Base64Simd => "base64-simd",
            Backend::Avx2 => "avx2",
            Backend::Avx512Vbmi => "avx512vbmi",
        }
    }

    /// Parses a name as printed by [`Backend::name`].
    pub fn from_name(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Whether this CPU can run the backend (detected once, then cached).
    pub fn is_available(self) -> bool {
        detected().contains(&self)
    }

    /// The backends this CPU can run, slowest first.
    pub fn available() -> Vec<Backend> {
        detected().to_vec()
    }

    /// The fastest backend this CPU can run.
    pub fn best() -> Backend {
        *detected().last().expect("scalar is always available")
    }

    /// The process default: `MIMEFLOW_SIMD` if it names an available backend,
    /// else [`Backend::best`].
    pub fn default_for_process() -> Backend {
        static DEFAULT: OnceLock<Backend> = OnceLock::new();
        *DEFAULT.get_or_init(|| {
            std::env::var("MIMEFLOW_SIMD")
                .ok()
                .and_then(|v| Backend::from_name(v.trim()))
                .filter(|b| b.is_available())
                .unwrap_or_else(Backend::best)
        })
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn detected() -> &'static [Backend] {
    static DETECTED: OnceLock<Vec<Backend>> = OnceLock::new();
    DETECTED.get_or_init(|| {
        let mut v = vec![Backend::Scalar, Backend::Base64Simd];
        #[cfg(target_arch = "x86_64")]
        {
            if super::x86_64::avx2::is_available() {
                v.push(Backend::Avx2);
            }
            if super::x86_64::avx512vbmi::is_available() {
                v.push(Backend::Avx512Vbmi);
            }
        }
        v
    })
}

/// CPU features relevant to the codec, for reports (`mimeflow bench`, `--version`).
pub fn cpu_features() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut f = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($name:tt),*) => {$(
                if std::is_x86_feature_detected!($name) { f.push($name); }
            )*};
        }
        probe!(
            "sse4.1",
            "avx2",
            "bmi2",
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512vbmi",
            "avx512vbmi2"
        );
    }
    f
}
