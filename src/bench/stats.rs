//! Order statistics of timing samples: the median and the p10–p90 spread
//! `mimeflow bench` reports, by linear interpolation between closest ranks
//! (numpy's default `linear` method), so a handful of samples still gives a
//! stable answer.

/// The `p`-th percentile (`0.0..=100.0`) of `samples`, interpolated linearly
/// between the two closest ranks. `None` for no samples or a NaN among them.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    if samples.is_empty() || samples.iter().any(|x| x.is_nan()) {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = p.clamp(0.0, 100.0) / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64))
}

/// The median of `samples` (the mean of the middle two for an even count).
pub fn median(samples: &[f64]) -> Option<f64> {
    percentile(samples, 50.0)
}

/// Median and spread of one contender's throughput samples, in GB/s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The median batch throughput.
    pub median: f64,
    /// The 10th percentile (the slow end of the spread).
    pub p10: f64,
    /// The 90th percentile (the fast end).
    pub p90: f64,
}

impl Summary {
    /// Summarises `samples`; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        Some(Summary {
            median: median(samples)?,
            p10: percentile(samples, 10.0)?,
            p90: percentile(samples, 90.0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn percentiles_interpolate() {
        let v: Vec<f64> = (0..=10).map(f64::from).collect(); // 0..=10
        assert_eq!(percentile(&v, 0.0), Some(0.0));
        assert_eq!(percentile(&v, 10.0), Some(1.0));
        assert_eq!(percentile(&v, 90.0), Some(9.0));
        assert_eq!(percentile(&v, 100.0), Some(10.0));
        // Between ranks: 4 samples, p10 sits at rank 0.3.
        let w = [10.0, 20.0, 30.0, 40.0];
        let p10 = percentile(&w, 10.0).unwrap();
        assert!((p10 - 13.0).abs() < 1e-12, "{p10}");
        let p90 = percentile(&w, 90.0).unwrap();
        assert!((p90 - 37.0).abs() < 1e-12, "{p90}");
    }

    #[test]
    fn summary_orders_its_fields() {
        let s = Summary::of(&[5.0, 1.0, 9.0, 3.0, 7.0]).unwrap();
        assert_eq!(s.median, 5.0);
        assert!(s.p10 <= s.median && s.median <= s.p90);
        assert_eq!(Summary::of(&[]), None);
    }
}
