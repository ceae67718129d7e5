//! The runner never loses a run nor leaves a QEMU behind, end to end: the real `runner` binary
//! with a stub QEMU (`--qemu`, a shell script that prints records and then exits or hangs) and
//! a stub kernel ELF. No emulator runs, so these are host tests (`cargo test`).
//!
//! - a SIGTERM or SIGINT sent to the runner alone kills QEMU and still writes host.json and
//!   the "incomplete" summary, and the runner ends by that signal;
//! - QEMU dies with a runner killed by SIGKILL (PR_SET_PDEATHSIG);
//! - a results folder holds one run: what an earlier run left is removed first, and a folder
//!   another runner holds is refused;
//! - a non-UTF-8 argument, an over-long kernel command line and UEFI firmware with a BIOS-only
//!   boot are refused with exit status 2 before anything starts;
//! - a closed stdout (`| head`) is no panic, and a run still writes its results.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const RUNNER: &str = env!("CARGO_BIN_EXE_runner");

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh folder under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!(
            "runner-robust-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let s = Scratch(d);
        // A kernel ELF the runner accepts: the header of an ELF64 x86-64 file, no segments.
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2; // ELFCLASS64
        elf[5] = 1; // little-endian
        elf[6] = 1;
        elf[18] = 62; // EM_X86_64
        fs::write(s.kernel(), elf).unwrap();
        fs::write(s.qemu(), STUB_QEMU).unwrap();
        fs::set_permissions(s.qemu(), fs::Permissions::from_mode(0o755)).unwrap();
        s
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn kernel(&self) -> PathBuf {
        self.0.join("kernel.elf")
    }
    fn qemu(&self) -> PathBuf {
        self.0.join("qemu-stub")
    }
    fn results(&self) -> PathBuf {
        self.0.join("results")
    }
    fn pidfile(&self) -> PathBuf {
        self.0.join("qemu.pid")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const RESULT: &str = r#"{"type":"result","bench":"tsc_overhead","kind":"floor","params":{},"unit":"cycles","n":10,"warmup":1,"min":40,"p50":42,"p90":44,"p99":50,"p999":50,"max":50,"mean":43,"stddev":2,"hist":[[32,10]]}"#;

/// A stand-in for qemu-system-x86_64: answers `--version`, prints a context record, then by
/// $STUB_MODE: `hang` (a result, its pid into $STUB_PIDFILE, then sleeps as the same
/// process), `pass` (a result and the `end` record, exit 33), `die` (exit 1 at once).
const STUB_QEMU: &str = r#"#!/bin/sh
if [ "$1" = "--version" ]; then echo "QEMU emulator version 0.0.0 (stub)"; exit 0; fi
echo '{"type":"context","git_rev":"stub","hypervisor":"TCGTCGTCGTCG","cpus_online":2}'
case "$STUB_MODE" in
  hang) echo 'RESULT'; echo $$ > "$STUB_PIDFILE"; exec sleep 300 ;;
  pass) echo 'RESULT'; echo '{"type":"end","status":"pass"}'; exit 33 ;;
  *) echo "stub: cannot start" >&2; exit 1 ;;
esac
"#;

/// `runner run` on the stub: TCG (no KVM probe), SeaBIOS (no firmware file needed).
fn runner(s: &Scratch, mode: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(RUNNER);
    c.arg("run")
        .arg("--kernel")
        .arg(s.kernel())
        .arg("--qemu")
        .arg(s.qemu())
        .args(["--accel", "tcg", "--smp", "2", "--firmware", "seabios"])
        .args(["--timeout", "120"])
        .args(extra)
        .env("STUB_MODE", mode)
        .env("STUB_PIDFILE", s.pidfile())
        .stdin(Stdio::null());
    c
}

fn spawn_logged(mut c: Command, s: &Scratch, tag: &str) -> Child {
    c.stdout(fs::File::create(s.path().join(format!("{tag}.out"))).unwrap())
        .stderr(fs::File::create(s.path().join(format!("{tag}.err"))).unwrap())
        .spawn()
        .unwrap()
}

fn log(s: &Scratch, tag: &str, stream: &str) -> String {
    fs::read_to_string(s.path().join(format!("{tag}.{stream}"))).unwrap_or_default()
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_exit(child: &mut Child, secs: u64) -> ExitStatus {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("the runner did not end within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The stub QEMU's pid, once it is running (its result line came through).
fn qemu_pid(s: &Scratch) -> i32 {
    wait_until("the stub QEMU", 20, || {
        fs::read_to_string(s.pidfile()).is_ok_and(|t| t.ends_with('\n'))
            && fs::read_to_string(s.results().join("records.jsonl"))
                .is_ok_and(|t| t.contains("tsc_overhead"))
    });
    fs::read_to_string(s.pidfile())
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Gone, or a zombie nobody has reaped yet: either way, no longer running.
fn dead(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a pid this test spawned.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

fn set_stub_result(s: &Scratch) {
    let text = STUB_QEMU.replace("RESULT", RESULT);
    fs::write(s.qemu(), text).unwrap();
}

/// A benchmark run into the scratch results folder whose stub QEMU hangs after its records:
/// the runner (logged as `tag`) and the stub's pid.
fn hanging_run(s: &Scratch, tag: &str) -> (Child, i32) {
    set_stub_result(s);
    let c = runner(
        s,
        "hang",
        &[
            "--quiet",
            "--results",
            s.results().to_str().unwrap(),
            "--",
            "bench=floors",
        ],
    );
    let child = spawn_logged(c, s, tag);
    let qemu = qemu_pid(s);
    (child, qemu)
}

#[test]
fn a_stop_signal_kills_qemu_and_keeps_the_run() {
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let s = Scratch::new("signal");
        let (mut child, qemu) = hanging_run(&s, "runner");
        signal(child.id(), sig);
        let status = wait_exit(&mut child, 30);
        let err = log(&s, "runner", "err");
        assert_eq!(
            status.signal(),
            Some(sig),
            "the runner ends by {name}: {err}"
        );
        assert!(dead(qemu), "QEMU (pid {qemu}) still runs after {name}");
        let host = json(&s.results().join("host.json"));
        assert_eq!(host["outcome"], "interrupted", "{host}");
        assert_eq!(host["runner_signal"], sig);
        assert_eq!(host["records_complete"], false);
        let summary = fs::read_to_string(s.results().join("summary.md")).unwrap();
        assert!(
            summary.contains(&format!(
                "Incomplete run: no `end` record (runner: interrupted: the runner got {name}, \
                 QEMU killed)"
            )) && summary.contains("| tsc_overhead |"),
            "{summary}"
        );
        assert!(
            err.contains(&format!("FAIL: interrupted: the runner got {name}")),
            "{err}"
        );
        assert!(
            !s.results().join(".lock").exists(),
            "the lock goes with the runner"
        );
    }
}

#[test]
fn qemu_dies_with_a_killed_runner() {
    let s = Scratch::new("sigkill");
    let (mut child, qemu) = hanging_run(&s, "runner");
    signal(child.id(), libc::SIGKILL);
    let status = wait_exit(&mut child, 30);
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    wait_until("QEMU to die with the runner", 10, || dead(qemu));
}

#[test]
fn a_busy_results_folder_is_refused() {
    let s = Scratch::new("busy");
    let (mut first, qemu) = hanging_run(&s, "first");
    let dir = s.results();
    let args = [
        "--quiet",
        "--results",
        dir.to_str().unwrap(),
        "--",
        "bench=floors",
    ];
    let second = runner(&s, "pass", &args).output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(11), "{err}");
    assert!(
        err.contains("is in use by another runner") && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    // The first run's records are untouched.
    let recs = fs::read_to_string(dir.join("records.jsonl")).unwrap();
    assert!(
        recs.contains("tsc_overhead") && !recs.contains("\"end\""),
        "{recs}"
    );
    signal(first.id(), libc::SIGTERM);
    wait_exit(&mut first, 30);
    assert!(dead(qemu));
}

#[test]
fn a_new_run_leaves_nothing_of_the_old_one() {
    let s = Scratch::new("stale");
    set_stub_result(&s);
    let dir = s.results();
    for f in [
        "summary.md",
        "repeat.jsonl",
        "csv/shootdown.csv",
        "csv/repeat.csv",
        "plots/shootdown_vs_pages.svg",
        "boot-1/records.jsonl",
        "boot-2/host.json",
        "records.jsonl",
        "console.log",
        "host.json",
    ] {
        let p = dir.join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, "old run").unwrap();
    }
    fs::write(dir.join("notes.txt"), "mine").unwrap();
    // A run: nothing of the old one stays.
    let out = runner(
        &s,
        "pass",
        &[
            "--quiet",
            "--results",
            dir.to_str().unwrap(),
            "--",
            "test=higher_half",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for gone in [
        "repeat.jsonl",
        "csv/shootdown.csv",
        "csv/repeat.csv",
        "plots",
        "boot-1",
        "boot-2",
    ] {
        assert!(!dir.join(gone).exists(), "{gone} left from the old run");
    }
    let summary = fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(summary.starts_with("# Benchmark summary"), "{summary}");
    assert_eq!(fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    assert!(
        fs::read_to_string(dir.join("records.jsonl"))
            .unwrap()
            .contains("tsc_overhead")
    );
    assert_eq!(json(&dir.join("host.json"))["outcome"], "pass");

    // A benchmark run that dies before its first result: its summary says so, and no CSV of
    // an earlier run survives.
    let ok = runner(
        &s,
        "pass",
        &[
            "--quiet",
            "--results",
            dir.to_str().unwrap(),
            "--",
            "bench=floors",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    assert!(dir.join("csv/tsc_overhead.csv").is_file());
    let died = runner(
        &s,
        "die",
        &[
            "--quiet",
            "--results",
            dir.to_str().unwrap(),
            "--",
            "bench=floors",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(died.status.code(), Some(9), "QEMU error");
    assert!(!dir.join("csv").exists());
    let summary = fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        summary.contains("Incomplete run: no `end` record (runner: QEMU error: exit status 1"),
        "{summary}"
    );
    assert!(!summary.contains("| tsc_overhead |"), "{summary}");
}

#[test]
fn bad_arguments_are_refused_before_anything_starts() {
    let s = Scratch::new("usage");
    let results = s.results();
    let refused = |args: Vec<std::ffi::OsString>| {
        let out = Command::new(RUNNER)
            .args(&args)
            .env("STUB_MODE", "hang")
            .env("STUB_PIDFILE", s.pidfile())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!s.pidfile().exists(), "QEMU was started");
        assert!(!results.exists(), "the results folder was touched");
        err
    };
    let base = |tail: &[&[u8]]| -> Vec<std::ffi::OsString> {
        let mut v: Vec<std::ffi::OsString> = vec![
            "run".into(),
            "--kernel".into(),
            s.kernel().into(),
            "--qemu".into(),
            s.qemu().into(),
            "--results".into(),
            results.clone().into(),
        ];
        v.extend(
            tail.iter()
                .map(|b| std::ffi::OsString::from_vec(b.to_vec())),
        );
        v
    };
    let e = refused(base(&[b"--", b"test=all\xff"]));
    assert!(
        e.contains("argument 9") && e.contains("\\xFF") && e.contains("UTF-8"),
        "{e}"
    );
    let long = format!("test={}", vec!["higher_half"; 100].join(","));
    let e = refused(base(&[b"--", long.as_bytes()]));
    assert!(e.contains("at most 1024"), "{e}");
    let e = refused(base(&[b"--firmware", b"ovmf"]));
    assert!(e.contains("UEFI") && e.contains("--boot image"), "{e}");
    let e = refused(base(&[b"--boot", b"grub", b"--firmware", b"ovmf"]));
    assert!(e.contains("BIOS only"), "{e}");
}

/// A stdout whose reader is already gone: every write gets EPIPE.
fn closed_stdout() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

#[test]
fn a_closed_stdout_is_no_panic() {
    let s = Scratch::new("epipe");
    set_stub_result(&s);
    let help = Command::new(RUNNER)
        .arg("--help")
        .stdout(closed_stdout())
        .output()
        .unwrap();
    assert_eq!(
        help.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&help.stderr)
    );
    let list = Command::new(RUNNER)
        .args(["test", "--list", "--all"])
        .stdout(closed_stdout())
        .output()
        .unwrap();
    assert_eq!(list.status.code(), Some(0));
    // A run streaming its console into the closed pipe goes on and writes its results.
    let mut c = runner(
        &s,
        "pass",
        &[
            "--results",
            s.results().to_str().unwrap(),
            "--",
            "bench=floors",
        ],
    );
    let mut child = c
        .stdout(closed_stdout())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, 30);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(json(&s.results().join("host.json"))["outcome"], "pass");
    assert!(s.results().join("summary.md").is_file());
}
