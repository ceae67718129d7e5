//! Progress of a `--quiet` benchmark run: one line per result with n/m, the elapsed time and
//! an estimate of the time left.
//!
//! m and the estimate come from the last complete run of the same configuration (accelerator,
//! emulator, CPUs, memory, kernel words): at its end the runner writes how many results it
//! gave and when each arrived into `target/progress/<key>.json`. A deterministic (icount) run
//! repeats its results exactly, so its estimate is as good as the host's speed is steady
//! (the reference's remaining time, scaled by how fast this run has been so far); a
//! configuration never run to its end before shows n alone.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// What one run of a configuration looked like.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    /// Seconds since QEMU started at which each result arrived.
    pub at: Vec<f64>,
    /// Seconds until the run ended.
    pub end: f64,
}

/// The history file of a configuration, in `target`.
pub fn history_file(target: &Path, key: &str) -> PathBuf {
    let h: String = Sha256::digest(key.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    target.join("progress").join(format!("{h}.json"))
}

/// The configuration key: what decides which results a run gives and how long they take.
/// `bench_raw` only adds output and is left out.
pub fn key(accel: &str, emulator: &str, smp: u32, memory: u64, words: &[String]) -> String {
    let mut w: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| *w != "bench_raw")
        .collect();
    w.sort_unstable();
    format!("{accel}|{emulator}|{smp}|{memory}|{}", w.join(" "))
}

pub fn load(path: &Path) -> Option<Reference> {
    let v: Value = serde_json::from_str(&fs::read_to_string(path).ok()?).ok()?;
    let at = v["at"]
        .as_array()?
        .iter()
        .map(Value::as_f64)
        .collect::<Option<Vec<f64>>>()?;
    Some(Reference {
        at,
        end: v["end"].as_f64()?,
    })
}

/// Writes the reference of a complete run (best effort: progress is a convenience).
pub fn save(path: &Path, key: &str, r: &Reference) {
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    let v = json!({"key": key, "at": r.at, "end": r.end});
    let _ = fs::write(path, v.to_string() + "\n");
}

/// The running count of one run.
#[derive(Debug)]
pub struct Progress {
    reference: Option<Reference>,
    /// Arrival times of this run's results so far.
    pub at: Vec<f64>,
}

/// `1h02m`, `3m20s`, `45s`.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

impl Progress {
    pub fn new(reference: Option<Reference>) -> Progress {
        Progress {
            reference,
            at: Vec::new(),
        }
    }

    /// The n/m of the next result and the estimate of the time left, at `now` seconds; also
    /// records the result's time.
    pub fn result(&mut self, now: f64) -> String {
        self.at.push(now);
        let n = self.at.len();
        let Some(r) = &self.reference else {
            return format!("{n}");
        };
        let m = r.at.len().max(n);
        // Scale the reference by how fast this run has been so far.
        let left = match r.at.get(n - 1) {
            Some(&ref_now) if ref_now > 0.0 => {
                let scale = now / ref_now;
                Some(((r.end - ref_now) * scale).max(0.0))
            }
            _ => None,
        };
        match left {
            Some(l) => format!(
                "{n}/{m}, about {} left",
                short_duration(Duration::from_secs_f64(l))
            ),
            None => format!("{n}/{m}"),
        }
    }

    /// This run as a reference for the next one.
    pub fn finish(&self, end: f64) -> Reference {
        Reference {
            at: self.at.clone(),
            end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_history_only_the_count() {
        let mut p = Progress::new(None);
        assert_eq!(p.result(1.0), "1");
        assert_eq!(p.result(2.0), "2");
        assert_eq!(p.finish(3.0).at, vec![1.0, 2.0]);
    }

    #[test]
    fn with_history_n_of_m_and_the_time_left_scaled_to_this_run() {
        let r = Reference {
            at: vec![10.0, 20.0, 30.0, 40.0],
            end: 50.0,
        };
        let mut p = Progress::new(Some(r));
        // This run is twice as slow: 40 s of reference left become 80 s.
        assert_eq!(p.result(20.0), "1/4, about 1m20s left");
        assert_eq!(p.result(40.0), "2/4, about 1m00s left");
        // More results than last time: m grows with n, no estimate past the reference.
        p.result(60.0);
        p.result(80.0);
        assert_eq!(p.result(90.0), "5/5");
    }

    #[test]
    fn history_round_trips_and_the_key_ignores_raw_samples() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = key(
            "icount",
            "qemu",
            2,
            1 << 30,
            &w(&["bench_deterministic", "bench_raw"]),
        );
        let b = key("icount", "qemu", 2, 1 << 30, &w(&["bench_deterministic"]));
        assert_eq!(a, b);
        assert_ne!(
            a,
            key("tcg", "qemu", 2, 1 << 30, &w(&["bench_deterministic"]))
        );
        let dir = std::env::temp_dir().join(format!("progress-test-{}", std::process::id()));
        let f = history_file(&dir, &a);
        let r = Reference {
            at: vec![1.5, 2.5],
            end: 3.0,
        };
        save(&f, &a, &r);
        assert_eq!(load(&f), Some(r));
        assert_eq!(load(&dir.join("none.json")), None);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn durations() {
        assert_eq!(short_duration(Duration::from_secs(45)), "45s");
        assert_eq!(short_duration(Duration::from_secs(200)), "3m20s");
        assert_eq!(short_duration(Duration::from_secs(3720)), "1h02m");
    }
}
