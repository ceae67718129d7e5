//! Benchmark reports: turns a results folder into files for a paper (CSV, a Markdown summary,
//! SVG plots) and compares two folders.
//!
//! # A results folder (input)
//!
//! ```text
//! DIR/
//!   records.jsonl   the kernel's records, one JSON object per line, each with "type":
//!                   context (once per boot), result (one per benchmark result), error, end
//!                   (last; a folder without it is an incomplete run), and others (ignored here)
//!   host.json       what only the host knows (accelerator, deterministic, qemu_version,
//!                   qemu_cmdline, started_at, ...); optional
//!   console.log     the serial console (not read here)
//!   samples.csv.gz  every raw sample (runs with `bench_raw`); optional, see [`tidy`]
//! ```
//!
//! A `result` record: `bench`, `kind` (`floor` or `workload`), `params` (object; may be
//! omitted for none), `unit` (`cycles`, `instructions` in the deterministic mode,
//! `faults_per_s`, ...), `n`, `warmup`, `min`, `p50`, `p90`, `p99`, `p999`, `max`, `mean`,
//! `stddev`, optionally the same figures in ns (`p50_ns`, ...), and `hist`: log2 buckets
//! `[[lower_bound, count], ...]` (lower bounds 0, 1, 2, 4, ..., only non-empty buckets).
//! See [`model`] for what happens to records that lack a field.
//!
//! A repeated run (`--repeat K`) holds one results folder per boot, and the aggregate at the
//! top:
//!
//! ```text
//! DIR/boot-1/{records.jsonl,host.json,...}
//! DIR/boot-2/...
//! ```
//!
//! # What is written (output)
//!
//! [`write_report`] on a single run writes into DIR:
//!
//! ```text
//! DIR/summary.md          context, problems, floors and workloads tables, goals
//! DIR/summary.json        the same for programs: outcome, goals, checks, skips (see [`tidy`])
//! DIR/results.csv         every result, one row each, run metadata as columns (see [`tidy`])
//! DIR/csv/<bench>.csv     one per bench (see [`bench_csv()`])
//! DIR/plots/*.svg, *.pdf  those of shootdown_vs_targets, shootdown_vs_pages, pf_latency,
//!                         pf_throughput whose data exists (see [`plots()`]), each as SVG and
//!                         PDF
//! ```
//!
//! On a repeated run (DIR has `boot-*` subfolders) it calls [`aggregate_repeats`], which writes
//! `DIR/repeat.jsonl`, `DIR/summary.md`, `DIR/csv/repeat.csv` and `DIR/plots/*.svg` from the
//! medians across boots, `DIR/results.csv` with every boot's rows, and never writes into the
//! boot folders.
//!
//! [`compare()`] reads two folders (single or repeated) and returns a Markdown table.
//!
//! [`redraw_plots`] redraws `DIR/plots/*` from `DIR/results.csv` (and `DIR/samples.csv.gz`)
//! alone, e.g. after a researcher filtered the CSV.

pub mod compare;
pub mod csv;
pub mod fmt;
pub mod goals;
pub mod linux;
pub mod model;
mod pdf;
pub mod plots;
pub mod protocols;
pub mod readme;
mod redraw;
pub mod repeat;
pub mod summary;
pub mod svg;
#[cfg(test)]
mod testutil;
pub mod tidy;

use std::fs;
use std::path::{Path, PathBuf};

pub use compare::compare;
pub use csv::{bench_csv, csv_files};
pub use goals::{Goal, Platform, Verdict, goals};
pub use model::{BenchResult, Object, Params, Results, load, params_label, parse_records};
pub use plots::{PLOT_FILES, Plot, plots};
pub use repeat::{RepeatRow, aggregate_repeats, find_boots, repeat_rows};
pub use summary::summary;
pub use svg::use_log_scale;

/// What can stop a report.
#[derive(Debug)]
pub enum Error {
    /// A file or folder could not be read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// [`aggregate_repeats`] or [`compare()`] found no readable boot folder.
    NoBoots(PathBuf),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::NoBoots(dir) => write!(f, "{}: no readable boot-* folder", dir.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::NoBoots(_) => None,
        }
    }
}

/// What [`write_report`] or [`aggregate_repeats`] did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The text of `summary.md`, for printing.
    pub summary: String,
    /// Every file written, in order.
    pub files: Vec<PathBuf>,
    /// Parse warnings (skipped or dropped records), also listed in the summary.
    pub warnings: Vec<String>,
}

pub(crate) fn write_file(path: &Path, text: &str) -> Result<PathBuf, Error> {
    write_bytes(path, text.as_bytes())
}

pub(crate) fn write_bytes(path: &Path, data: &[u8]) -> Result<PathBuf, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    fs::write(path, data).map_err(io)?;
    Ok(path.to_path_buf())
}

/// Writes `dir/plots/<name>.svg` and `.pdf` for each plot, and removes this crate's plot files
/// (both kinds) from an earlier report that this one does not make (so no stale plot
/// survives).
pub(crate) fn write_plots(dir: &Path, plots: &[Plot]) -> Result<Vec<PathBuf>, Error> {
    let pdir = dir.join("plots");
    for name in PLOT_FILES {
        if !plots.iter().any(|p| p.name == name) {
            let _ = fs::remove_file(pdir.join(name));
            let _ = fs::remove_file(pdir.join(plots::pdf_name(name)));
        }
    }
    let mut files = Vec::new();
    for p in plots {
        files.push(write_file(&pdir.join(&p.name), &p.svg())?);
        files.push(write_bytes(&pdir.join(p.pdf_name()), &p.pdf())?);
    }
    Ok(files)
}

/// Redraws `dir/plots/*` (SVG and PDF) from `dir/results.csv` and, when present,
/// `dir/samples.csv.gz`, without records.jsonl: so a researcher who filtered results.csv can
/// redraw the figures. A results.csv holding several runs (a repeated run's boots) is drawn
/// from the rows of its first run, and the report says so.
pub fn redraw_plots(dir: &Path) -> Result<Report, Error> {
    redraw::redraw_plots(dir)
}

/// Writes the report of `dir` into it and returns what it wrote.
///
/// A single run: `summary.md`, `csv/<bench>.csv` (CSV files of benches no longer present are
/// removed from `csv/`), `plots/*.svg`. A repeated run (`dir` has `boot-*` subfolders): see
/// [`aggregate_repeats`].
pub fn write_report(dir: &Path) -> Result<Report, Error> {
    let boots = find_boots(dir)?;
    if !boots.is_empty() {
        return aggregate_repeats(dir, &boots);
    }
    let res = load(dir)?;
    let mut files = Vec::new();
    let csvs = csv_files(&res.results);
    let cdir = dir.join("csv");
    if let Ok(rd) = fs::read_dir(&cdir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".csv") && !csvs.iter().any(|(n, _)| *n == name) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    for (name, text) in &csvs {
        files.push(write_file(&cdir.join(name), text)?);
    }
    let fallback = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let run = tidy::run_id(&res, &fallback);
    files.push(write_file(
        &dir.join(tidy::RESULTS_CSV),
        &tidy::results_csv(&[(run, &res)]),
    )?);
    files.extend(write_plots(dir, &plots(&res.results))?);
    let text = summary(&res);
    files.push(write_file(&dir.join("summary.md"), &text)?);
    let json = serde_json::to_string_pretty(&tidy::summary_json(&res)).expect("serialises") + "\n";
    files.push(write_file(&dir.join(tidy::SUMMARY_JSON), &json)?);
    Ok(Report {
        summary: text,
        files,
        warnings: res.warnings,
    })
}
