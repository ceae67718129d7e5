//! Helpers shared by the unit tests.

use crate::model::BenchResult;

/// A result with the given p50; the other figures derived from it (min 0.8×, p90 1.2×, ...).
pub fn res(
    bench: &str,
    kind: &str,
    params: serde_json::Value,
    unit: &str,
    p50: f64,
) -> BenchResult {
    BenchResult {
        bench: bench.into(),
        kind: kind.into(),
        params: params.as_object().cloned().unwrap_or_default(),
        unit: unit.into(),
        n: 100,
        warmup: 10,
        min: p50 * 0.8,
        p50,
        p90: p50 * 1.2,
        p99: p50 * 1.5,
        p999: p50 * 2.0,
        max: p50 * 3.0,
        mean: p50,
        stddev: 1.0,
        p5: Some(p50 * 0.85),
        p95: Some(p50 * 1.3),
        min_ns: None,
        p50_ns: None,
        p90_ns: None,
        p99_ns: None,
        p999_ns: None,
        max_ns: None,
        mean_ns: None,
        stddev_ns: None,
        hist: vec![],
        samples: None,
    }
}
