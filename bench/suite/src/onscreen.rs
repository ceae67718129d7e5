//! The summary table left on the screen at the end of a run (and printed on the serial port
//! as log lines): the key results, two per line on an 80-column screen. What is kept: every
//! floor; the fault latencies (not their handler/trap splits); the fault throughput per CPU
//! count; shootdowns with the plain protocol and one IPI per target, of one page and of a full
//! flush, per space and target count. Every result is in the records regardless.

use core::fmt::Write;

use kernel_core::fmtbuf::FmtBuf;

use super::{Kind, P};
use sys::println;

const MAX: usize = 64;
/// Characters of one table cell (label and median); two cells and a separator fit 80 columns.
const CELL: usize = 39;

type Label = FmtBuf<40>;

struct Entry {
    label: Label,
    p50: u64,
    unit: &'static str,
}

struct Table {
    n: usize,
    dropped: usize,
    checks_passed: usize,
    checks_failed: usize,
    entries: [Option<Entry>; MAX],
}

static TABLE: spin::Mutex<Table> = spin::Mutex::new(Table {
    n: 0,
    dropped: 0,
    checks_passed: 0,
    checks_failed: 0,
    entries: [const { None }; MAX],
});

fn param<'a>(params: &'a [(&str, P)], key: &str) -> Option<&'a P> {
    params.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

fn is(params: &[(&str, P)], key: &str, want: &str) -> bool {
    matches!(param(params, key), Some(P::S(s)) if *s == want)
}

fn value(p: Option<&P>) -> FmtBuf<16> {
    let mut b = FmtBuf::new();
    match p {
        Some(P::U(v)) => {
            let _ = write!(b, "{v}");
        }
        Some(P::S(s)) => {
            let _ = write!(b, "{s}");
        }
        None => {}
    }
    b
}

/// The label of a result worth a line, or None.
fn label(bench: &str, kind: Kind, params: &[(&str, P)]) -> Option<Label> {
    let mut l = Label::new();
    match bench {
        _ if kind == Kind::Floor => {
            let _ = write!(l, "{bench}");
            if let Some(P::S(s)) = param(params, "id_from") {
                let _ = write!(l, " {s}");
            }
        }
        "pf_kernel" | "pf_user" if is(params, "part", "total") => {
            // One variant per access today: the access names the line (the cell is narrow).
            let _ = write!(l, "{bench} {}", value(param(params, "access")).as_str());
        }
        "pf_throughput" => {
            let _ = write!(
                l,
                "pf_throughput cpus={}",
                value(param(params, "cpus")).as_str()
            );
        }
        "shootdown"
            if is(params, "protocol", "ipi")
                && is(params, "delivery", "unicast")
                && (matches!(param(params, "pages"), Some(P::U(1)))
                    || is(params, "pages", "full")) =>
        {
            let _ = write!(
                l,
                "shootdown {} t={} p={}",
                value(param(params, "space")).as_str(),
                value(param(params, "targets")).as_str(),
                value(param(params, "pages")).as_str()
            );
        }
        _ => return None,
    }
    Some(l)
}

/// Keep a result for the table if it is one of the key ones.
pub fn note_result(bench: &str, kind: Kind, params: &[(&str, P)], unit: &str, p50: u64) {
    let Some(label) = label(bench, kind, params) else {
        return;
    };
    let unit = match unit {
        "cycles" => "cyc",
        "faults_per_s" => "/s",
        _ => "",
    };
    let mut t = TABLE.lock();
    if t.n == MAX {
        t.dropped += 1;
        return;
    }
    let n = t.n;
    t.entries[n] = Some(Entry { label, p50, unit });
    t.n += 1;
}

pub fn note_check(pass: bool) {
    let mut t = TABLE.lock();
    if pass {
        t.checks_passed += 1;
    } else {
        t.checks_failed += 1;
    }
}

/// Clear the screen and print the table; `ok`: the run's verdict.
pub fn show(ok: bool) {
    let t = TABLE.lock();
    sys::screen::clear();
    println!(
        "{}{} ==  medians (p50); cyc = TSC ticks",
        kernel_core::screen::SUMMARY_START,
        if ok { "PASS" } else { "FAIL" }
    );
    let mut line = FmtBuf::<96>::new();
    for (i, e) in t.entries[..t.n].iter().flatten().enumerate() {
        let mut cell = FmtBuf::<64>::new();
        let _ = write!(cell, "{} {} {}", e.label.as_str(), e.p50, e.unit);
        let mut padded = FmtBuf::<64>::new();
        let _ = write!(padded, "{:<width$}", cell.as_str(), width = CELL);
        let _ = write!(
            line,
            "{}",
            &padded.as_str()[..padded.as_str().len().min(CELL)]
        );
        if i % 2 == 1 {
            println!("{}", line.as_str().trim_end());
            line = FmtBuf::new();
        } else {
            let _ = write!(line, " ");
        }
    }
    if !line.as_str().is_empty() {
        println!("{}", line.as_str().trim_end());
    }
    if t.dropped > 0 {
        println!("({} more results in the records)", t.dropped);
    }
    println!(
        "checks: {} passed, {} failed; every result is in the serial records",
        t.checks_passed, t.checks_failed
    );
}
