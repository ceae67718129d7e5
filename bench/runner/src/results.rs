//! A results folder holds one run: before a run writes into it, the runner takes the folder's
//! lock ([`lock`]: one runner per folder, a second one is refused) and removes everything an
//! earlier run left there ([`clear`]), so no summary, CSV or plot can describe another run,
//! even when the new run dies before its first result.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The lock file inside a results folder.
pub const LOCK_FILE: &str = ".lock";

/// Files a run (or its report) writes at the top of a results folder.
pub const RUN_FILES: &[&str] = &[
    "console.log",
    "records.jsonl",
    "host.json",
    "summary.md",
    "summary.json",
    "results.csv",
    "samples.csv.gz",
    "repeat.jsonl",
    "monitor.sock",
    "screen.ppm",
    "screen-vga.bin",
];

/// The exclusive lock of a results folder, held until dropped (or the runner dies: the kernel
/// drops an `flock` with its last file descriptor, so a killed runner leaves no stale lock).
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Remove the file while still holding the lock; a runner that opened it meanwhile
        // finds, once it has the lock, that the path no longer names its file and retries.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Creates `dir` if needed and takes its lock. A folder another runner holds is refused with
/// that runner's pid and command line.
pub fn lock(dir: &Path) -> Result<Lock, String> {
    let path = dir.join(LOCK_FILE);
    let io = |e: io::Error| format!("{}: {e}", path.display());
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    loop {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(format!(
                    "results folder {} is in use by another runner{}; wait for it to end, or \
                     give another --results folder",
                    dir.display(),
                    if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" ({holder})")
                    }
                ));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // The holder may have removed the file between our open and our lock: keep the lock
        // only if the path still names the file we locked.
        let ours = file.metadata().map_err(io)?;
        match fs::metadata(&path) {
            Ok(m) if m.dev() == ours.dev() && m.ino() == ours.ino() => {}
            _ => continue,
        }
        let args: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        file.set_len(0).map_err(io)?;
        writeln!(file, "pid {}: {}", std::process::id(), args.join(" ")).map_err(io)?;
        return Ok(Lock { file, path });
    }
}

/// Removes from `dir` what runs and reports write there: [`RUN_FILES`], the `boot-N` folders
/// of a repeated run, the CSV files in `csv/`, the SVG plots in `plots/` and
/// `plots/with_ours/` (the joint charts with Linux), and GRUB image folders a killed runner
/// left. Other files are left alone (a folder given by mistake loses nothing else); emptied
/// `csv/` and `plots/` folders go too. Returns what was removed.
pub fn clear(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        let path = e.path();
        let is_dir = e.file_type()?.is_dir();
        let is_boot = name
            .strip_prefix("boot-")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_dir && (is_boot || name.starts_with("grub-iso-")) {
            fs::remove_dir_all(&path)?;
            removed.push(path);
        } else if !is_dir && RUN_FILES.contains(&name.as_ref()) {
            fs::remove_file(&path)?;
            removed.push(path);
        }
    }
    for (sub, ext) in [("csv", "csv"), ("plots/with_ours", "svg"), ("plots", "svg")] {
        let d = dir.join(sub);
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_file() && p.extension().is_some_and(|x| x == ext) {
                fs::remove_file(&p)?;
                removed.push(p);
            }
        }
        // Only if now empty.
        if fs::remove_dir(&d).is_ok() {
            removed.push(d);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("runner-results-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn touch(p: &Path) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, "x").unwrap();
    }

    #[test]
    fn clear_removes_every_run_artefact_and_nothing_else() {
        let d = temp("clear");
        for f in RUN_FILES {
            touch(&d.join(f));
        }
        for f in [
            "csv/shootdown.csv",
            "plots/pf_latency.svg",
            "plots/with_ours/shootdown_vs_pages.svg",
            "boot-1/records.jsonl",
            "boot-12/host.json",
            "grub-iso-123-0/kernel.iso",
            // Not ours: kept.
            "notes.txt",
            "csv/README",
            "boot-x/keep",
        ] {
            touch(&d.join(f));
        }
        clear(&d).unwrap();
        let mut left: Vec<String> = Vec::new();
        let mut stack = vec![d.clone()];
        while let Some(p) = stack.pop() {
            for e in fs::read_dir(&p).unwrap().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    let rel = e.path().strip_prefix(&d).unwrap().display().to_string();
                    left.push(rel);
                }
            }
        }
        left.sort();
        assert_eq!(left, ["boot-x/keep", "csv/README", "notes.txt"]);
        assert!(!d.join("plots").exists(), "an emptied plots/ goes");
        assert!(clear(&d.join("absent")).unwrap().is_empty());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_locked_folder_is_refused_until_released() {
        let d = temp("lock");
        let first = lock(&d).unwrap();
        let text = fs::read_to_string(d.join(LOCK_FILE)).unwrap();
        assert!(
            text.starts_with(&format!("pid {}: ", std::process::id())),
            "{text}"
        );
        let e = lock(&d).unwrap_err();
        assert!(
            e.contains("is in use by another runner")
                && e.contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        drop(first);
        assert!(
            !d.join(LOCK_FILE).exists(),
            "the lock file goes with the lock"
        );
        let again = lock(&d).unwrap();
        drop(again);
        let _ = fs::remove_dir_all(&d);
    }
}
