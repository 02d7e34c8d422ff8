//! Hand-written x86-64 kernels, one file per instruction set. Each file's
//! `is_available` is the runtime check that `dispatch.rs` caches.

pub(crate) mod avx2;
pub(crate) mod avx512vbmi;

/// Size in bytes of the largest level-3 cache that CPUID's deterministic cache
/// parameters describe (leaf 4 on Intel, 0x8000001D on AMD), or `None`.
// The CPUID intrinsics became safe functions in recent Rust; the blocks keep
// the crate building with its declared rust-version.
#[allow(unsafe_code, unused_unsafe)]
pub(crate) fn last_level_cache() -> Option<usize> {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: CPUID exists on every x86-64 CPU; a leaf is only read when the
    // CPU's maximum (basic or extended) leaf covers it.
    let (max_basic, max_ext) = unsafe { (__cpuid(0).eax, __cpuid(0x8000_0000).eax) };
    let mut best = None;
    for leaf in [4u32, 0x8000_001D] {
        let max = if leaf < 0x8000_0000 {
            max_basic
        } else {
            max_ext
        };
        if max < leaf {
            continue;
        }
        // Subleaves describe one cache each until a type of 0; 16 bounds a
        // hypervisor that never says so.
        for sub in 0..16 {
            // SAFETY: as above.
            let r = unsafe { __cpuid_count(leaf, sub) };
            if r.eax & 0x1F == 0 {
                break;
            }
            if (r.eax >> 5) & 0x7 == 3 {
                let ways = (r.ebx >> 22) as usize + 1;
                let partitions = ((r.ebx >> 12) & 0x3FF) as usize + 1;
                let line = (r.ebx & 0xFFF) as usize + 1;
                let sets = r.ecx as usize + 1;
                let size = ways * partitions * line * sets;
                best = best.max(Some(size));
            }
        }
    }
    best
}

/// Whether CPUID's vendor string is Intel's.
#[allow(unsafe_code, unused_unsafe)]
pub(crate) fn is_intel() -> bool {
    // SAFETY: CPUID exists on every x86-64 CPU and leaf 0 on every CPU with CPUID.
    let r = unsafe { std::arch::x86_64::__cpuid(0) };
    // "GenuineIntel" in EBX, EDX, ECX.
    (r.ebx, r.edx, r.ecx) == (0x756E_6547, 0x4965_6E69, 0x6C65_746E)
}

#[cfg(test)]
mod tests {
    /// A missing oracle skips, or fails under `MIMEFLOW_REQUIRE_ORACLES=1`
    /// (as `tests/support/oracle.rs` does for the integration tests).
    fn missing(what: &str) {
        if std::env::var_os("MIMEFLOW_REQUIRE_ORACLES").is_some_and(|v| v == "1") {
            panic!("{what} (MIMEFLOW_REQUIRE_ORACLES=1: a missing oracle is a failure)");
        }
        eprintln!("skipped: {what}");
    }

    /// The vendor test agrees with the kernel's `vendor_id`.
    #[test]
    fn is_intel_matches_proc_cpuinfo() {
        let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
            return missing("no /proc/cpuinfo");
        };
        let vendor = info
            .lines()
            .find_map(|l| l.strip_prefix("vendor_id"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim());
        assert_eq!(super::is_intel(), vendor == Some("GenuineIntel"));
    }

    /// CPUID's L3 agrees with what the Linux kernel read from the same leaves
    /// (sysfs), where that is there to read. (Without the deterministic
    /// leaves the kernel may still show an L3 from AMD's legacy leaf
    /// 0x80000006, which the threshold does not use: nothing to compare.)
    #[test]
    fn last_level_cache_matches_sysfs() {
        let dir = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return missing(&format!("no {}", dir.display()));
        };
        let mut sysfs = None;
        for e in entries.flatten() {
            let read = |f: &str| std::fs::read_to_string(e.path().join(f)).unwrap_or_default();
            if read("level").trim() == "3" {
                let size = read("size");
                let kib: usize = size
                    .trim()
                    .trim_end_matches('K')
                    .parse()
                    .expect("size in K");
                sysfs = sysfs.max(Some(kib * 1024));
            }
        }
        match super::last_level_cache() {
            Some(ours) => assert_eq!(Some(ours), sysfs),
            None => eprintln!("no deterministic cache leaves; sysfs says {sysfs:?}"),
        }
    }
}
