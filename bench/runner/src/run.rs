//! One boot of the kernel: build the GRUB image if asked for, build QEMU's command line, stream
//! and annotate the console, collect records, classify the outcome, write the results folder.

use crate::{errln, outln};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::grub::{self, TempDir};
use crate::host::{self, Elf, HostInfo};
use crate::outcome::{Outcome, ProcessEnd, classify};
use crate::process::run_streaming;
use crate::records::{self, Line, Record};
use crate::symbols::annotate_line;
use crate::vm::{Boot, BootMedia, ResolvedVm, size_label};

/// How to run and where to put what it produces.
pub struct RunOptions<'a> {
    pub qemu: &'a str,
    pub qemu_args: &'a [String],
    pub kernel_args: &'a [String],
    /// Stream the console to stdout.
    pub echo: bool,
    /// Write console.log, records.jsonl and host.json here.
    pub results: Option<&'a Path>,
    /// When not echoing: show `progress` and `error` records as they arrive, each line
    /// starting with this prefix.
    pub progress: Option<&'a str>,
    /// Save the screen at the end into this file (needs `results`): the VM gets a VGA
    /// device and a monitor socket and no exit device, so the kernel halts after its `end`
    /// record; the runner then saves the screen through the monitor and quits QEMU. The
    /// outcome comes from the `end` record.
    pub screen: Option<(crate::screen::Kind, &'a Path)>,
}

/// Everything a run produced.
pub struct RunReport {
    pub outcome: Outcome,
    pub end: ProcessEnd,
    /// Annotated console lines.
    pub console: Vec<String>,
    /// Records as written to records.jsonl (relabelled in icount mode).
    pub records: Vec<Record>,
    /// Lines that start with `{` but are not records: (line, reason).
    pub malformed: Vec<(String, String)>,
    pub stderr: String,
    pub duration: Duration,
    pub qemu_cmdline: Vec<String>,
}

impl RunReport {
    pub fn records_complete(&self) -> bool {
        records::end_status(&self.records).is_some()
    }
    pub fn records_of<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records
            .iter()
            .filter(move |r| records::record_type(r) == ty)
    }
}

struct Sinks {
    console: Option<File>,
    records: Option<File>,
    /// samples.csv.gz, created at the first `samples` record (`bench_raw`).
    samples: Option<bench_report::tidy::SamplesWriter>,
}

fn create(dir: &Path, name: &str) -> io::Result<File> {
    File::create(dir.join(name))
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.join(name).display())))
}

/// Builds the GRUB image of a `--boot grub` run in a temporary folder under the results folder
/// (else the target dir); the folder goes when the returned guard is dropped.
fn grub_image(elf: &Elf, opts: &RunOptions, vm_boot: Boot) -> io::Result<(TempDir, PathBuf)> {
    let parent = opts
        .results
        .map_or_else(crate::target_dir, Path::to_path_buf);
    let dir = TempDir::new_in(&parent).map_err(io::Error::other)?;
    let iso = match vm_boot {
        Boot::Image(entry) => {
            let iso = dir.path().join("image.iso");
            grub::build_image(&elf.path, entry, 0, &iso).map_err(io::Error::other)?;
            iso
        }
        _ => grub::build_iso(&elf.path, opts.kernel_args, dir.path()).map_err(io::Error::other)?,
    };
    Ok((dir, iso))
}

/// Boots the kernel once. Errors are the runner's own (QEMU or grub-mkrescue cannot be started,
/// results folder not writable); everything QEMU or the kernel does is in the report.
pub fn run(
    vm: &ResolvedVm,
    elf: &Elf,
    host: &HostInfo,
    opts: &RunOptions,
) -> io::Result<RunReport> {
    // The GRUB image must outlive QEMU: `_iso_dir` removes it when the run returns.
    let (_iso_dir, iso) = match vm.boot {
        Boot::Kernel => (None, None),
        b => {
            let (dir, iso) = grub_image(elf, opts, b)?;
            (Some(dir), Some(iso))
        }
    };
    let media = match &iso {
        Some(iso) => BootMedia::Cdrom(iso),
        None => BootMedia::Kernel {
            elf: &elf.path,
            args: opts.kernel_args,
        },
    };
    let mut args = vm.qemu_args(media, opts.qemu_args);
    let monitor = match (opts.screen, opts.results) {
        (Some(_), Some(dir)) => {
            fs::create_dir_all(dir)?;
            let sock = dir.join("monitor.sock");
            let _ = fs::remove_file(&sock);
            screen_vm_args(&mut args, &sock);
            Some(sock)
        }
        (Some(_), None) => {
            return Err(io::Error::other("a screen check needs a results folder"));
        }
        _ => None,
    };
    let mut qemu_cmdline = vec![opts.qemu.to_string()];
    qemu_cmdline.extend(args.iter().cloned());

    let mut sinks = Sinks {
        console: None,
        records: None,
        samples: None,
    };
    if let Some(dir) = opts.results {
        fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        sinks.console = Some(create(dir, "console.log")?);
        sinks.records = Some(create(dir, "records.jsonl")?);
        // A stale host.json from an earlier run must not describe this one.
        let _ = fs::remove_file(dir.join("host.json"));
    }

    let started = SystemTime::now();
    let run_id = host::run_id(started);
    let mut results_seen = 0;
    // --quiet: a line per result with n/m and the time left (from the last complete run of
    // this configuration).
    let progress_key = crate::progress::key(
        vm.accel.name(),
        "qemu",
        vm.smp,
        vm.memory,
        &vm.kernel_words(opts.kernel_args),
    );
    let history = crate::progress::history_file(&crate::target_dir(), &progress_key);
    let mut progress = opts
        .progress
        .map(|_| crate::progress::Progress::new(crate::progress::load(&history)));
    let mut console = Vec::new();
    let mut recs = Vec::new();
    let mut malformed = Vec::new();
    let mut write_err: Option<io::Error> = None;
    let icount = vm.deterministic();
    let mut captured = false;
    let mut capture_err: Option<String> = None;
    let mut cmd = Command::new(opts.qemu);
    cmd.args(&args);
    let finished = run_streaming(cmd, None, Duration::from_secs_f64(vm.timeout), |line| {
        // A `samples` record (every sample of the next result, `bench_raw`) goes to
        // samples.csv.gz; the console and records.jsonl get a one-line note instead.
        if line.starts_with("{\"type\":\"samples\"")
            && let Line::Record(r) = records::parse_line(line)
        {
            let note = format!(
                "(samples: {} values of {}{})",
                r.get("n").map_or("?".into(), Value::to_string),
                records::str_field(&r, "bench").unwrap_or("?"),
                if opts.results.is_some() {
                    ", in samples.csv.gz"
                } else {
                    ""
                }
            );
            if let Some(dir) = opts.results {
                if sinks.samples.is_none() {
                    match bench_report::tidy::SamplesWriter::create(
                        &dir.join(bench_report::tidy::SAMPLES_FILE),
                        &run_id,
                    ) {
                        Ok(w) => sinks.samples = Some(w),
                        Err(e) => {
                            write_err.get_or_insert(e);
                        }
                    }
                }
                // They belong to the next result record.
                if let Some(w) = &mut sinks.samples
                    && let Err(e) = w.samples(results_seen, &r)
                {
                    write_err.get_or_insert(e);
                }
            }
            if let Some(f) = &mut sinks.console
                && let Err(e) = writeln!(f, "{note}")
            {
                write_err.get_or_insert(e);
            }
            console.push(note);
            return;
        }
        let shown = match &elf.symbols {
            Some(t) => annotate_line(line, t),
            None => line.to_string(),
        };
        if opts.echo {
            outln!("{shown}");
        }
        if let Some(f) = &mut sinks.console
            && let Err(e) = writeln!(f, "{shown}")
        {
            write_err.get_or_insert(e);
        }
        match records::parse_line(line) {
            Line::Log => {}
            Line::Record(mut r) => {
                if icount {
                    records::relabel_icount(&mut r);
                }
                if let Some(prefix) = opts.progress {
                    show_progress(prefix, &r, started, progress.as_mut());
                }
                if records::record_type(&r) == "result" {
                    results_seen += 1;
                }
                if let Some(f) = &mut sinks.records {
                    let s = serde_json::to_string(&r).expect("a JSON map serialises");
                    if let Err(e) = writeln!(f, "{s}") {
                        write_err.get_or_insert(e);
                    }
                }
                recs.push(r);
            }
            Line::Malformed(why) => {
                errln!("runner: warning: malformed record line ({why}): {line}");
                malformed.push((line.to_string(), why));
            }
        }
        if let (Some(sock), Some((kind, file))) = (&monitor, opts.screen)
            && !captured
            && line.contains(crate::screen::HALT_LINE)
        {
            captured = true;
            let cmd = crate::screen::capture_command(kind, file);
            if let Err(e) = crate::screen::monitor_capture_and_quit(sock, &cmd) {
                capture_err = Some(e);
            }
        }
        console.push(shown);
    })
    .map_err(|e| io::Error::new(e.kind(), format!("cannot start QEMU '{}': {e}", opts.qemu)))?;
    if let Some(w) = sinks.samples.take()
        && let Err(e) = w.finish()
    {
        write_err.get_or_insert(e);
    }
    if let Some(e) = write_err {
        return Err(e);
    }

    // After a screen capture the runner quit QEMU itself: the `end` record is the verdict.
    let end = if captured && capture_err.is_none() {
        ProcessEnd::Status(crate::outcome::STATUS_PASS)
    } else {
        finished.end
    };
    let mut stderr = finished.stderr.clone();
    if let Some(e) = &capture_err {
        stderr.push_str(&format!("runner: screen capture failed: {e}\n"));
    }
    let outcome = classify(end, records::end_status(&recs), &stderr);
    if let Some(p) = &progress
        && records::end_status(&recs).is_some()
        && !p.at.is_empty()
    {
        let secs = started.elapsed().map_or(0.0, |d| d.as_secs_f64());
        crate::progress::save(&history, &progress_key, &p.finish(secs));
    }
    let report = RunReport {
        outcome,
        end: finished.end,
        console,
        records: recs,
        malformed,
        stderr,
        duration: finished.duration,
        qemu_cmdline,
    };
    if let Some(dir) = opts.results {
        let mut j = host_json(vm, elf, host, &report, started);
        j["run_id"] = Value::String(run_id);
        let text = serde_json::to_string_pretty(&j).expect("serialises") + "\n";
        fs::write(dir.join("host.json"), text)?;
    }
    Ok(report)
}

/// The VM of a screen check: a VGA device, the monitor on a Unix socket, no exit device (the
/// kernel halts and keeps its screen).
fn screen_vm_args(args: &mut Vec<String>, sock: &Path) {
    let mut i = 0;
    while i + 1 < args.len() {
        if args[i] == "-monitor" {
            args[i + 1] = format!("unix:{},server,nowait", sock.display());
        }
        if args[i] == "-device" && args[i + 1].starts_with("isa-debug-exit") {
            args.drain(i..i + 2);
            continue;
        }
        i += 1;
    }
    args.extend(["-vga".into(), "std".into()]);
}

/// One line on stderr for a `progress` record (the benchmark group starting), a `result`
/// (with n/m and the time left when `count` is given) or an `error` record, with the time
/// since QEMU started.
pub(crate) fn show_progress(
    prefix: &str,
    r: &Record,
    started: SystemTime,
    count: Option<&mut crate::progress::Progress>,
) {
    let secs = started.elapsed().map_or(0.0, |d| d.as_secs_f64());
    match records::record_type(r) {
        "result" => {
            let Some(p) = count else { return };
            let n = p.result(secs);
            let bench = records::str_field(r, "bench").unwrap_or("?");
            let params = match r.get("params") {
                Some(Value::Object(m)) => m
                    .iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => format!(" {k}={s}"),
                        v => format!(" {k}={v}"),
                    })
                    .collect::<String>(),
                _ => String::new(),
            };
            errln!("runner: {prefix}[{secs:6.1} s] {n}: {bench}{params}");
        }
        "progress" => {
            let group = records::str_field(r, "group").unwrap_or("?");
            errln!("runner: {prefix}[{secs:6.1} s] {group}");
        }
        "error" => {
            let msg = records::str_field(r, "message").unwrap_or("?");
            errln!("runner: {prefix}[{secs:6.1} s] error: {msg}");
        }
        "end" => {
            let status = records::str_field(r, "status").unwrap_or("?");
            errln!("runner: {prefix}[{secs:6.1} s] end: {status}");
        }
        _ => {}
    }
}

/// host.json: what only the host knows about this run.
pub fn host_json(
    vm: &ResolvedVm,
    elf: &Elf,
    host: &HostInfo,
    report: &RunReport,
    started: SystemTime,
) -> Value {
    let mut m = match json!({
        "accelerator": vm.accel.name(),
        "deterministic": vm.deterministic(),
        "qemu_version": host.qemu_version,
        "qemu_cmdline": report.qemu_cmdline,
        "machine": vm.machine.name(),
        "cpu_model": vm.cpu,
        "smp": vm.smp,
        "memory": size_label(vm.memory),
        "memory_bytes": vm.memory,
        "firmware": vm.firmware.name(),
        "firmware_path": vm.bios.as_ref().map(|p| p.display().to_string()),
        "boot": vm.boot.name(),
        "kvm_backend": host.kvm_backend,
        "qemu_stderr": report.stderr,
    }) {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    };
    m.extend(run_fields(elf, host, report, started, vm.timeout));
    Value::Object(m)
}

/// The host.json fields every run has, whichever emulator ran it: the host, the ELF, the
/// runner's arguments, timing and outcome. `signal` is the one the emulator died of (SIGKILL
/// from the runner at the deadline or on a stop signal); `runner_signal` the stop signal the
/// runner got.
pub fn run_fields(
    elf: &Elf,
    host: &HostInfo,
    report: &RunReport,
    started: SystemTime,
    timeout_s: f64,
) -> serde_json::Map<String, Value> {
    let (exit_status, signal, runner_signal) = match report.end {
        ProcessEnd::Status(s) => (json!(s), Value::Null, Value::Null),
        ProcessEnd::Signal(s) => (Value::Null, json!(s), Value::Null),
        ProcessEnd::Timeout(_) => (Value::Null, json!(9), Value::Null),
        ProcessEnd::Interrupted(s) => (Value::Null, json!(9), json!(s)),
    };
    match json!({
        "host_cpu": host.host_cpu,
        "host_cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "host_kernel": host.host_kernel,
        "elf_path": absolute(&elf.path).display().to_string(),
        "elf_sha256": elf.sha256,
        "rustc_version": host.rustc_version,
        "runner_args": host::runner_args(),
        "started_at": host::iso8601_utc(started),
        "duration_s": (report.duration.as_secs_f64() * 1000.0).round() / 1000.0,
        "timeout_s": timeout_s,
        "outcome": report.outcome.kind().name(),
        "outcome_message": report.outcome.message(),
        "exit_status": exit_status,
        "signal": signal,
        "runner_signal": runner_signal,
        "records_complete": report.records_complete(),
        "malformed_record_lines": report.malformed.len(),
    }) {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
