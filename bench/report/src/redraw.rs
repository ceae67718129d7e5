//! Redrawing the plots from the tidy CSV alone (`runner plot DIR`): DIR/results.csv, and the
//! raw samples of DIR/samples.csv.gz when the folder has them.

use std::fs;
use std::io;
use std::path::Path;

use crate::tidy::{RESULTS_CSV, SAMPLES_FILE, read_samples, results_from_csv, split_csv};
use crate::{Error, Report, plots, write_plots};

/// The `run` and `result` cells of each data row of results.csv, in the order
/// [`results_from_csv`] returns its results (blank lines skipped alike). A missing `run`
/// column reads as one run; a missing or empty `result` cell as `None`.
fn row_keys(text: &str) -> Vec<(String, Option<usize>)> {
    let mut lines = text.lines();
    let header = split_csv(lines.next().unwrap_or(""));
    let col = |name: &str| header.iter().position(|h| h == name);
    let (run, result) = (col("run"), col("result"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cells = split_csv(l);
            let cell = |i: Option<usize>| i.and_then(|i| cells.get(i)).cloned();
            (
                cell(run).unwrap_or_default(),
                cell(result).and_then(|c| c.parse().ok()),
            )
        })
        .collect()
}

/// See [`crate::redraw_plots`]. The raw samples belong to a row by its `result` cell (the
/// result's position in the run: the `result` column of samples.csv.gz), or its position
/// among the run's rows where the cell is empty; samples whose bench or count does not match
/// the row are left out with a warning.
pub(crate) fn redraw_plots(dir: &Path) -> Result<Report, Error> {
    let path = dir.join(RESULTS_CSV);
    let text = fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let results = results_from_csv(&text).map_err(|e| Error::Io {
        path: path.clone(),
        source: io::Error::new(io::ErrorKind::InvalidData, e),
    })?;
    let keys = row_keys(&text);
    let mut warnings = Vec::new();
    let mut runs: Vec<&str> = Vec::new();
    for (run, _) in &keys {
        if !runs.contains(&run.as_str()) {
            runs.push(run);
        }
    }
    let first = runs.first().map(|r| r.to_string()).unwrap_or_default();
    if runs.len() > 1 {
        warnings.push(format!(
            "{RESULTS_CSV} holds {} runs; the plots are drawn from the rows of the first, \
             run `{first}`",
            runs.len()
        ));
    }
    let mut mine: Vec<(usize, crate::BenchResult)> = results
        .into_iter()
        .zip(&keys)
        .filter(|(_, (run, _))| *run == first)
        .enumerate()
        .map(|(i, (r, (_, result)))| (result.unwrap_or(i), r))
        .collect();
    let spath = dir.join(SAMPLES_FILE);
    let mut with_samples = 0;
    if spath.is_file() {
        let samples = read_samples(&spath).map_err(|source| Error::Io {
            path: spath.clone(),
            source,
        })?;
        for (pos, r) in &mut mine {
            let Some((bench, values)) = samples.get(pos) else {
                continue;
            };
            if *bench != r.bench || values.len() as u64 != r.n {
                warnings.push(format!(
                    "{SAMPLES_FILE}: result {pos} has {} samples of `{bench}`, its row is {} \
                     with n={}: left out",
                    values.len(),
                    r.label(),
                    r.n
                ));
                continue;
            }
            r.samples = Some(values.clone());
            with_samples += 1;
        }
    }
    let results: Vec<crate::BenchResult> = mine.into_iter().map(|(_, r)| r).collect();
    let drawn = plots(&results);
    let files = write_plots(dir, &drawn)?;
    let mut summary = format!(
        "Redrew {} plots from {} result rows of {RESULTS_CSV}{} ({} with raw samples)",
        drawn.len(),
        results.len(),
        if runs.len() > 1 {
            format!(" (run `{first}`, the first of {})", runs.len())
        } else {
            String::new()
        },
        with_samples
    );
    summary.push('\n');
    Ok(Report {
        summary,
        files,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::res;
    use crate::tidy::SamplesWriter;
    use crate::{PLOT_FILES, model::Results};
    use serde_json::json;

    fn temp(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("bench-report-redraw-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn run() -> Results {
        let mut v = Vec::new();
        for t in [1, 2] {
            v.push(res(
                "shootdown",
                "workload",
                json!({"protocol":"sync","delivery":"unicast","space":"kernel","targets":t,"pages":1}),
                "cycles",
                1000.0 * t as f64,
            ));
        }
        let mut pf = res(
            "pf_user",
            "workload",
            json!({"mode":"user","page":4096,"access":"write","part":"total"}),
            "cycles",
            2000.0,
        );
        pf.n = 4;
        pf.hist = vec![(1024, 2), (2048, 2)];
        v.push(pf);
        Results {
            results: v,
            ..Results::default()
        }
    }

    #[test]
    fn redraws_from_the_csv_of_the_first_run_with_its_samples() {
        let dir = temp("csv");
        let r = run();
        let csv = crate::tidy::results_csv(&[("A".into(), &r), ("B".into(), &r)]);
        // A researcher dropped the first shootdown row: the pf row keeps its `result` (2).
        let filtered: Vec<&str> = csv
            .lines()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, l)| l)
            .collect();
        fs::write(dir.join(RESULTS_CSV), filtered.join("\n") + "\n").unwrap();
        let mut w = SamplesWriter::create(&dir.join(SAMPLES_FILE), "A").unwrap();
        // The samples of the third result (two came before it).
        w.samples(
            2,
            json!({"type":"samples","bench":"pf_user","params":{},"unit":"cycles","n":4,
                   "values":[1500, 1900, 2100, 2500]})
            .as_object()
            .unwrap(),
        )
        .unwrap();
        w.finish().unwrap();
        // A stale plot of an earlier report, both kinds: removed.
        fs::create_dir_all(dir.join("plots")).unwrap();
        fs::write(dir.join("plots/pf_throughput.svg"), "x").unwrap();
        fs::write(dir.join("plots/pf_throughput.pdf"), "x").unwrap();

        let rep = redraw_plots(&dir).unwrap();
        assert!(
            rep.summary.contains("from 2 result rows"),
            "{}",
            rep.summary
        );
        assert!(
            rep.summary.contains("run `A`, the first of 2"),
            "{}",
            rep.summary
        );
        assert!(
            rep.summary.contains("(1 with raw samples)"),
            "{}",
            rep.summary
        );
        assert!(
            rep.warnings[0].contains("holds 2 runs"),
            "{:?}",
            rep.warnings
        );
        for f in [
            "shootdown_vs_targets.svg",
            "shootdown_vs_targets.pdf",
            "pf_latency.svg",
            "pf_latency.pdf",
        ] {
            assert!(dir.join("plots").join(f).is_file(), "{f}");
            assert!(rep.files.contains(&dir.join("plots").join(f)), "{f}");
        }
        assert!(!dir.join("plots/pf_throughput.svg").exists());
        assert!(!dir.join("plots/pf_throughput.pdf").exists());
        let pf = fs::read_to_string(dir.join("plots/pf_latency.svg")).unwrap();
        assert!(pf.contains("ECDF of every raw sample"), "{pf}");
        let targets = fs::read_to_string(dir.join("plots/shootdown_vs_targets.svg")).unwrap();
        assert_eq!(
            crate::plots::tests::polylines(&targets, "series")[0].len(),
            1,
            "the dropped row is not drawn"
        );
        assert!(rep.files.iter().all(|f| {
            let n = f.file_name().unwrap().to_string_lossy().into_owned();
            PLOT_FILES
                .iter()
                .any(|p| *p == n || crate::plots::pdf_name(p) == n)
        }));

        // Samples that do not belong to their row are left out, and said.
        let mut w = SamplesWriter::create(&dir.join(SAMPLES_FILE), "A").unwrap();
        w.samples(
            2,
            json!({"type":"samples","bench":"pf_user","params":{},"unit":"cycles","n":3,
                   "values":[1, 2, 3]})
            .as_object()
            .unwrap(),
        )
        .unwrap();
        w.finish().unwrap();
        let rep = redraw_plots(&dir).unwrap();
        assert!(
            rep.warnings.iter().any(|w| w.contains("left out")),
            "{:?}",
            rep.warnings
        );
        assert!(rep.summary.contains("(0 with raw samples)"));

        // No results.csv: an error naming it.
        fs::remove_file(dir.join(RESULTS_CSV)).unwrap();
        let e = redraw_plots(&dir).unwrap_err().to_string();
        assert!(e.contains(RESULTS_CSV), "{e}");
        fs::write(dir.join(RESULTS_CSV), "bench\nx\n").unwrap();
        assert!(redraw_plots(&dir).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
