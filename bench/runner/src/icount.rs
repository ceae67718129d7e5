//! What the deterministic mode (QEMU icount) must show about cross-CPU figures, checked on a
//! run's records by the `icount-curve-smp4` case: every wait in the kernel yields (PAUSE or
//! HLT), so between an initiator's start and its return QEMU's round robin runs only the
//! critical path and a bounded tail of each other vCPU, never a time slice. Then
//! - a delay of D instructions injected before each target's acknowledgement
//!   (`shootdown_ack_delay` results) moves the median by D ± 2 %;
//! - the `sync` shootdown's figure repeats exactly from sample to sample (the median is the
//!   minimum: a time slice that ends inside a measurement, at a timer deadline, can still
//!   lengthen a rare sample) and grows with every added target.

use crate::records::{self, Record};

/// Relative tolerance on the delay's effect (the delay loop's step and nothing else).
pub const DELAY_TOLERANCE: f64 = 0.02;

fn param_u64(r: &Record, key: &str) -> Option<u64> {
    r.get("params")?.get(key)?.as_u64()
}

fn param_str<'a>(r: &'a Record, key: &str) -> Option<&'a str> {
    r.get("params")?.get(key)?.as_str()
}

fn field_u64(r: &Record, key: &str) -> Option<u64> {
    r.get(key)?.as_u64()
}

fn results<'a>(recs: &'a [Record], bench: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
    recs.iter()
        .filter(move |r| records::record_type(r) == "result")
        .filter(move |r| records::str_field(r, "bench") == Some(bench))
}

/// The delay check: for each nonzero D, p50(D) − p50(0) within D ± 2 %.
pub fn check_delay(recs: &[Record]) -> Result<(), String> {
    let p50 = |d: u64| {
        results(recs, "shootdown_ack_delay")
            .find(|r| param_u64(r, "ack_delay") == Some(d))
            .and_then(|r| field_u64(r, "p50"))
    };
    let base = p50(0).ok_or("expected a shootdown_ack_delay result with ack_delay=0, got none")?;
    let mut seen = 0;
    for r in results(recs, "shootdown_ack_delay") {
        let Some(d) = param_u64(r, "ack_delay").filter(|d| *d > 0) else {
            continue;
        };
        let got = p50(d).unwrap_or(0) as f64 - base as f64;
        if (got - d as f64).abs() > DELAY_TOLERANCE * d as f64 {
            return Err(format!(
                "expected an ack delay of {d} to move the median by {d} ± {:.0} %, it moved \
                 it by {got} ({base} -> {})",
                DELAY_TOLERANCE * 100.0,
                p50(d).unwrap_or(0)
            ));
        }
        seen += 1;
    }
    if seen == 0 {
        return Err("expected shootdown_ack_delay results with a nonzero delay, got none".into());
    }
    Ok(())
}

/// The curve check: `sync`, unicast, kernel half, 1 page: exact (p50 = min) at every target
/// count, and strictly growing with the targets; at least two target counts.
pub fn check_curve(recs: &[Record]) -> Result<(), String> {
    let mut points: Vec<(u64, u64, u64)> = results(recs, "shootdown")
        .filter(|r| {
            param_str(r, "protocol") == Some("sync")
                && param_str(r, "delivery") == Some("unicast")
                && param_str(r, "space") == Some("kernel")
                && param_u64(r, "pages") == Some(1)
                && param_u64(r, "ack_delay").is_none()
                && param_u64(r, "targets").is_some_and(|t| t > 0)
        })
        .filter_map(|r| {
            Some((
                param_u64(r, "targets")?,
                field_u64(r, "p50")?,
                field_u64(r, "min")?,
            ))
        })
        .collect();
    points.sort();
    if points.len() < 2 {
        return Err(format!(
            "expected sync shootdown results at two target counts or more, got {}",
            points.len()
        ));
    }
    for &(t, p50, min) in &points {
        if min != p50 {
            return Err(format!(
                "expected the deterministic mode to repeat the {t}-target shootdown exactly, \
                 got p50 {p50} and min {min} (a wait that does not yield?)"
            ));
        }
    }
    for w in points.windows(2) {
        if w[1].1 <= w[0].1 {
            return Err(format!(
                "expected the shootdown to cost more with {} targets than with {}, got {} \
                 and {}",
                w[1].0, w[0].0, w[1].1, w[0].1
            ));
        }
    }
    Ok(())
}

/// The QEMU release [`GOLDEN`] was recorded with.
pub const GOLDEN_QEMU: &str = "10.0.2";

/// Medians the `icount-curve-smp4` case gave on the build machine (QEMU 10.0.2; kernel as of
/// the commit that last changed this table). The same kernel under the same QEMU gives them
/// on any machine, to the instruction: that is the deterministic mode's claim, and CI checks
/// it on a fresh machine. A change to a measured code path changes them on purpose: rerun
/// `runner test --all --filter icount-curve` and copy the figures its failure lists. So can
/// a change of the compiler's inlining elsewhere (2026-12-02: −1 to −3 instructions after the
/// spin 0.12 upgrade and the fault-path rewrite, no mechanism changed).
pub const GOLDEN: &[(&str, u64)] = &[
    (
        "shootdown protocol=sync delivery=unicast space=kernel targets=0 pages=1",
        202,
    ),
    (
        "shootdown protocol=sync delivery=unicast space=kernel targets=1 pages=1",
        799,
    ),
    (
        "shootdown protocol=sync delivery=unicast space=kernel targets=3 pages=1",
        1723,
    ),
    (
        "shootdown protocol=linux delivery=unicast space=user targets=2 pages=8",
        1681,
    ),
    ("shootdown_ack_delay ack_delay=1000", 1805),
    (
        "shootdown_phases protocol=sync space=kernel targets=1 phase=critical_path",
        443,
    ),
];

/// Every [`GOLDEN`] median, exactly, when `qemu` (the version QEMU reports) is
/// [`GOLDEN_QEMU`]; another QEMU release may count differently (None: not checked).
pub fn check_golden(recs: &[Record], qemu: Option<&str>) -> Result<Option<()>, String> {
    if qemu.and_then(|v| v.split_whitespace().next()) != Some(GOLDEN_QEMU) {
        return Ok(None);
    }
    let mut wrong = Vec::new();
    for (spec, want) in GOLDEN {
        let got = recs
            .iter()
            .find(|r| crate::cases::bench_matches(spec, r))
            .and_then(|r| field_u64(r, "p50"));
        if got != Some(*want) {
            wrong.push(format!(
                "{spec}: {} (recorded {want})",
                got.map_or("no result".into(), |g| g.to_string())
            ));
        }
    }
    if wrong.is_empty() {
        Ok(Some(()))
    } else {
        Err(format!(
            "expected the deterministic mode to repeat the recorded medians exactly under QEMU \
             {GOLDEN_QEMU}, got: {} (a changed code path: update icount::GOLDEN)",
            wrong.join("; ")
        ))
    }
}

/// The case's `records_check`: the delay and curve checks, and the recorded medians under
/// the QEMU they were recorded with.
pub fn check(recs: &[Record]) -> Result<(), String> {
    check_delay(recs)?;
    check_curve(recs)?;
    let qemu = crate::host::qemu_version("qemu-system-x86_64");
    if check_golden(recs, qemu.as_deref())?.is_none() {
        eprintln!(
            "runner: note: icount medians not compared with the recorded ones: QEMU {} here, \
             they were recorded under {GOLDEN_QEMU}",
            qemu.as_deref().unwrap_or("(unknown)")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(bench: &str, params: &str, p50: u64, min: u64) -> Record {
        let line = format!(
            r#"{{"type":"result","bench":"{bench}","params":{{{params}}},"p50":{p50},"min":{min}}}"#
        );
        serde_json::from_str(&line).unwrap()
    }

    fn delays(d1000: u64, d10000: u64) -> Vec<Record> {
        vec![
            rec("shootdown_ack_delay", r#""ack_delay":0"#, 1000, 1000),
            rec("shootdown_ack_delay", r#""ack_delay":1000"#, d1000, d1000),
            rec(
                "shootdown_ack_delay",
                r#""ack_delay":10000"#,
                d10000,
                d10000,
            ),
        ]
    }

    #[test]
    fn a_delay_must_move_the_median_by_itself() {
        assert_eq!(check_delay(&delays(2006, 11006)), Ok(()));
        // 2 % of 1000 is 20.
        assert_eq!(check_delay(&delays(2020, 11006)), Ok(()));
        let e = check_delay(&delays(2021, 11006)).unwrap_err();
        assert!(
            e.contains("ack delay of 1000") && e.contains("by 1021"),
            "{e}"
        );
        // A time slice in the middle (a wait that does not yield) is far off.
        assert!(check_delay(&delays(2006, 3_000_000)).is_err());
        assert!(check_delay(&delays(2006, 11006)[..1]).is_err());
        assert!(check_delay(&[]).is_err());
    }

    fn sync(t: u64, p50: u64, min: u64) -> Record {
        rec(
            "shootdown",
            &format!(
                r#""protocol":"sync","delivery":"unicast","space":"kernel","pages":1,"targets":{t}"#
            ),
            p50,
            min,
        )
    }

    #[test]
    fn the_recorded_medians_are_compared_under_their_qemu_only() {
        let recs: Vec<Record> = GOLDEN
            .iter()
            .map(|(spec, p50)| {
                let mut words = spec.split(' ');
                let bench = words.next().unwrap();
                let params: Vec<String> = words
                    .map(|w| {
                        let (k, v) = w.split_once('=').unwrap();
                        match v.parse::<u64>() {
                            Ok(n) => format!(r#""{k}":{n}"#),
                            Err(_) => format!(r#""{k}":"{v}""#),
                        }
                    })
                    .collect();
                rec(bench, &params.join(","), *p50, *p50)
            })
            .collect();
        let here = Some("10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)");
        assert_eq!(check_golden(&recs, here), Ok(Some(())));
        assert_eq!(check_golden(&recs, Some("10.1.0")), Ok(None));
        assert_eq!(check_golden(&recs, None), Ok(None));
        let mut off = recs.clone();
        off[1] = rec(
            "shootdown",
            r#""protocol":"sync","delivery":"unicast","space":"kernel","targets":1,"pages":1"#,
            GOLDEN[1].1 + 1,
            GOLDEN[1].1 + 1,
        );
        let e = check_golden(&off, here).unwrap_err();
        assert!(
            e.contains("targets=1 pages=1") && e.contains("update icount::GOLDEN"),
            "{e}"
        );
        assert!(
            check_golden(&recs[1..], here)
                .unwrap_err()
                .contains("no result")
        );
    }

    #[test]
    fn the_curve_must_be_exact_and_grow_with_the_targets() {
        let good = vec![sync(0, 400, 400), sync(1, 1000, 1000), sync(2, 1500, 1500)];
        assert_eq!(check_curve(&good), Ok(()));
        let flat = vec![sync(1, 1000, 1000), sync(2, 1000, 1000)];
        assert!(
            check_curve(&flat)
                .unwrap_err()
                .contains("more with 2 targets")
        );
        // A scheduler's time slice in most samples: the median far above the minimum.
        let noisy = vec![sync(1, 1000, 1000), sync(2, 107_000, 1500)];
        assert!(
            check_curve(&noisy)
                .unwrap_err()
                .contains("repeat the 2-target")
        );
        // The 0-target control is not a point of the curve.
        assert!(check_curve(&[sync(0, 400, 400), sync(1, 1000, 1000)]).is_err());
    }
}
