//! The `result` record, written the same way by the kernel and by the Linux baseline's
//! benchmark program (`bench/linux`), so both compute and print every figure alike.

use core::fmt::{self, Write};

use crate::json::{Record, write_string};
use crate::stats::{Summary, ticks_to_ns};

/// A parameter value of a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum P {
    /// A number.
    U(u64),
    /// A word.
    S(&'static str),
}

/// `floor` (what the hardware allows) or `workload`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// A hardware step the workloads are made of.
    Floor,
    /// A workload.
    Workload,
}

/// `params` as a JSON object, in the given order.
pub struct ParamsJson<'a>(pub &'a [(&'a str, P)]);

impl fmt::Display for ParamsJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write_string(f, k)?;
            f.write_str(":")?;
            match v {
                P::U(u) => write!(f, "{u}")?,
                P::S(s) => write_string(f, s)?,
            }
        }
        f.write_str("}")
    }
}

fn round2(v: f64) -> f64 {
    // Two decimals are plenty for cycles and ns, and keep records short.
    let scaled = v * 100.0;
    let r = if scaled >= 0.0 {
        (scaled + 0.5) as i64
    } else {
        (scaled - 0.5) as i64
    };
    r as f64 / 100.0
}

/// The values of a `samples` record: a JSON array of integers.
pub struct SamplesJson<'a>(pub &'a [u64]);

impl fmt::Display for SamplesJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{v}")?;
        }
        f.write_str("]")
    }
}

/// Write one `samples` record (without the newline): every sample of the result that follows
/// it, in measurement order (`bench_raw`). The host pairs it with the next `result` record.
pub fn write_samples<W: Write + ?Sized>(
    out: &mut W,
    bench: &str,
    params: &[(&str, P)],
    unit: &str,
    samples: &[u64],
) -> fmt::Result {
    let mut r = Record::begin(out, "samples");
    r.str("bench", bench)
        .raw("params", ParamsJson(params))
        .str("unit", unit)
        .u64("n", samples.len() as u64)
        .raw("values", SamplesJson(samples));
    r.finish()
}

/// Write one `result` record (without the newline): every field DESIGN.md lists, the `_ns`
/// figures when `unit` is `cycles` (TSC ticks at `hz`), and the log2 histogram.
#[allow(clippy::too_many_arguments)]
pub fn write_result<W: Write + ?Sized>(
    out: &mut W,
    bench: &str,
    kind: Kind,
    params: &[(&str, P)],
    unit: &str,
    warmup: usize,
    s: &Summary,
    hz: u64,
) -> fmt::Result {
    let cycles = unit == "cycles";
    let ns = |v: f64| round2(ticks_to_ns(v, hz));
    let mut r = Record::begin(out, "result");
    r.str("bench", bench)
        .str(
            "kind",
            match kind {
                Kind::Floor => "floor",
                Kind::Workload => "workload",
            },
        )
        .raw("params", ParamsJson(params))
        .str("unit", unit)
        .u64("n", s.n as u64)
        .u64("warmup", warmup as u64)
        .u64("min", s.min)
        .u64("p50", s.p50)
        .u64("p90", s.p90)
        .u64("p99", s.p99)
        .u64("p999", s.p999)
        .u64("max", s.max)
        .f64("mean", round2(s.mean))
        .f64("stddev", round2(s.stddev))
        .u64("p5", s.p5)
        .u64("p95", s.p95);
    if cycles {
        r.f64("min_ns", ns(s.min as f64))
            .f64("p50_ns", ns(s.p50 as f64))
            .f64("p90_ns", ns(s.p90 as f64))
            .f64("p99_ns", ns(s.p99 as f64))
            .f64("p999_ns", ns(s.p999 as f64))
            .f64("max_ns", ns(s.max as f64))
            .f64("mean_ns", ns(s.mean))
            .f64("stddev_ns", ns(s.stddev));
    }
    r.raw("hist", s.hist_json());
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_samples_record_keeps_measurement_order() {
        let mut out = String::new();
        write_samples(
            &mut out,
            "ipi",
            &[("targets", P::U(1))],
            "cycles",
            &[3, 1, 2],
        )
        .unwrap();
        assert_eq!(
            out,
            r#"{"type":"samples","bench":"ipi","params":{"targets":1},"unit":"cycles","n":3,"values":[3,1,2]}"#
        );
        let mut out = String::new();
        write_samples(&mut out, "x", &[], "cycles", &[]).unwrap();
        assert!(out.ends_with(r#""n":0,"values":[]}"#), "{out}");
    }

    #[test]
    fn a_result_record_has_every_field() {
        let mut samples = [3u64, 1, 2, 4];
        let s = Summary::of(&mut samples).unwrap();
        let mut out = String::new();
        write_result(
            &mut out,
            "pf_user_write",
            Kind::Workload,
            &[("mode", P::S("user")), ("page", P::U(4096))],
            "cycles",
            10,
            &s,
            1_000_000_000,
        )
        .unwrap();
        assert!(out.starts_with(r#"{"type":"result","bench":"pf_user_write","kind":"workload","params":{"mode":"user","page":4096},"unit":"cycles","n":4,"warmup":10,"min":1,"p50":2,"#), "{out}");
        for f in [
            "p90",
            "p99",
            "p999",
            "max",
            "mean",
            "stddev",
            "p50_ns",
            "stddev_ns",
            "p5",
            "p95",
            "hist",
        ] {
            assert!(out.contains(&format!("\"{f}\":")), "{f}: {out}");
        }
        let mut rate = String::new();
        write_result(&mut rate, "x", Kind::Floor, &[], "faults_per_s", 0, &s, 1).unwrap();
        assert!(!rate.contains("_ns"), "{rate}");
        assert!(rate.contains(r#""params":{}"#), "{rate}");
    }
}
