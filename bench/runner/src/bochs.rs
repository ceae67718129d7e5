//! Bochs as a second, independent x86 (`--emulator bochs`): its own models of PCID, INVPCID,
//! SMAP, x2APIC and of old and AMD CPUs. The kernel boots from a BIOS GRUB image in VGA text
//! mode with `exit=halt` (Bochs has no exit device); COM1 goes to a file the runner follows,
//! parsing records exactly as for QEMU. The run ends at the kernel's `end` record (its status is
//! the verdict), at a triple fault or panic in Bochs' log, when Bochs exits, or at the timeout;
//! Bochs is then killed by its own PID (and dies with the runner: PR_SET_PDEATHSIG).
//!
//! What Bochs shows and what not: it checks the architectural rules (CR4.PCIDE, INVPCID
//! descriptors and types, reserved bits, MSR existence) and runs every PCID/INVPCID path, but its
//! TLB carries no PCID tag (a CR3 load flushes every non-global entry, NOFLUSH is ignored) and its
//! TSC ticks at `ips`, so figures in cycles are about instructions.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::cases::{Case, case};
use crate::grub::{self, TempDir};
use crate::host::{Elf, HostInfo};
use crate::outcome::{Outcome, OutcomeKind, ProcessEnd};
use crate::records::{self, Line, Record};
use crate::run::{RunOptions, RunReport};
use crate::symbols::annotate_line;
use crate::vm::{VmConfig, size_label};

/// Which emulator boots the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Emulator {
    #[default]
    Qemu,
    Bochs,
}

impl Emulator {
    pub fn parse(s: &str) -> Option<Emulator> {
        match s {
            "qemu" => Some(Emulator::Qemu),
            "bochs" => Some(Emulator::Bochs),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Emulator::Qemu => "qemu",
            Emulator::Bochs => "bochs",
        }
    }
}

/// The Bochs program (Debian and Ubuntu: package `bochs`).
pub const PROGRAM: &str = "bochs";
/// The system BIOS (package `bochsbios`).
pub const BIOS_PATHS: &[&str] = &[
    "/usr/share/bochs/BIOS-bochs-latest",
    "/usr/local/share/bochs/BIOS-bochs-latest",
];
/// The VGA BIOS (package `vgabios`; a Bochs built from source has its own copy).
pub const VGA_BIOS_PATHS: &[&str] = &[
    "/usr/share/vgabios/vgabios.bin",
    "/usr/share/bochs/VGABIOS-lgpl-latest",
    "/usr/local/share/bochs/VGABIOS-lgpl-latest",
];
/// `--cpu` when none is given: PCID, INVPCID, SMEP, SMAP, x2APIC, 1 GiB pages.
pub const DEFAULT_CPU: &str = "corei7_skylake_x";
/// Instructions per emulated second: the TSC and every timer follow it (`clock: sync=none`).
pub const IPS: u64 = 50_000_000;
const SETUP_HINT: &str = "scripts/setup.sh installs it (Debian/Ubuntu: apt-get install bochs \
                          bochsbios vgabios)";

/// A usable Bochs: the program, its version, its firmware files and its CPU models.
#[derive(Clone, Debug)]
pub struct Installation {
    /// `2.7` from the banner.
    pub version: String,
    /// The Debian package version, when dpkg knows it.
    pub package_version: Option<String>,
    pub bios: PathBuf,
    pub vga_bios: PathBuf,
    /// `bochs --help cpu`.
    pub models: Vec<String>,
}

fn first_file(paths: &[&str], what: &str, package: &str) -> Result<PathBuf, String> {
    paths
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "Bochs' {what} not found (looked in {}); install the package {package} \
                 ({SETUP_HINT})",
                paths.join(", ")
            )
        })
}

/// Finds Bochs and what it needs; the error says what is missing and how to install it.
pub fn probe() -> Result<Installation, String> {
    let out = Command::new(PROGRAM)
        .args(["--help", "cpu"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => format!("bochs is not installed; {SETUP_HINT}"),
            _ => format!("cannot start {PROGRAM}: {e}"),
        })?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let models = parse_models(&text);
    if models.is_empty() {
        return Err(format!(
            "`{PROGRAM} --help cpu` lists no CPU models (a Bochs built without CPU model \
             support?); its output: {}",
            text.trim()
        ));
    }
    let version = parse_version(&text).unwrap_or_else(|| "unknown".into());
    let package_version = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "bochs"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty());
    Ok(Installation {
        version,
        package_version,
        bios: first_file(BIOS_PATHS, "BIOS", "bochsbios")?,
        vga_bios: first_file(VGA_BIOS_PATHS, "VGA BIOS", "vgabios")?,
        models,
    })
}

/// The model names after `Supported CPU models:` (one per line, up to the next blank line
/// after the first name).
pub fn parse_models(text: &str) -> Vec<String> {
    let mut models = Vec::new();
    let mut lines = text
        .lines()
        .skip_while(|l| !l.contains("Supported CPU models"));
    lines.next();
    for l in lines {
        let l = l.trim();
        if l.is_empty() {
            if models.is_empty() {
                continue;
            }
            break;
        }
        if !l
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            break;
        }
        models.push(l.to_string());
    }
    models
}

/// `2.7` from `Bochs x86 Emulator 2.7`.
pub fn parse_version(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.split("Bochs x86 Emulator ").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .map(str::to_string)
}

/// A Bochs machine with every choice made.
#[derive(Clone, Debug, PartialEq)]
pub struct BochsVm {
    /// A model of `bochs --help cpu`.
    pub cpu: String,
    /// CPUs (Bochs' `count=N`: N single-core packages).
    pub count: u32,
    pub memory: u64,
    pub timeout: f64,
}

/// The default deadline of a Bochs run: the self-tests take 5-10 s at 50 M instructions per
/// second, more with more CPUs (one host thread runs them all); a benchmark run gets a QEMU
/// run's (900 s quick, else 3600 s).
pub fn default_timeout_secs(count: u32, kernel_args: &[String]) -> f64 {
    if crate::vm::runs_benchmarks(kernel_args) {
        let quick = kernel_args.iter().any(|w| w == "bench_quick");
        return crate::vm::bench_timeout_secs(crate::vm::Accel::Tcg, quick);
    }
    120.0 + 30.0 * f64::from(count)
}

impl BochsVm {
    /// From the VM asked for: `cpu` (default [`DEFAULT_CPU`]) must be one of `models` (when the
    /// list is known), `smp` is the count, the memory a whole number of MiB.
    pub fn new(
        vm: &VmConfig,
        kernel_args: &[String],
        models: &[String],
    ) -> Result<BochsVm, String> {
        let cpu = vm.cpu.clone().unwrap_or_else(|| DEFAULT_CPU.to_string());
        if !models.is_empty() && !models.contains(&cpu) {
            return Err(format!(
                "Bochs has no CPU model '{cpu}' (`bochs --help cpu` lists: {})",
                models.join(", ")
            ));
        }
        if vm.smp == 0 {
            return Err("--smp must be at least 1".into());
        }
        Ok(BochsVm {
            cpu,
            count: vm.smp,
            memory: vm.memory,
            timeout: vm
                .timeout
                .unwrap_or_else(|| default_timeout_secs(vm.smp, kernel_args)),
        })
    }

    /// The bochsrc, with file names relative to the folder Bochs runs in.
    pub fn bochsrc(&self, inst: &Installation) -> String {
        format!(
            "# Written by the runner (--emulator bochs).\n\
             megs: {megs}\n\
             cpu: model={cpu}, count={count}, ips={IPS}, reset_on_triple_fault=0\n\
             romimage: file={bios}\n\
             vgaromimage: file={vga}\n\
             ata0-master: type=cdrom, path={ISO}, status=inserted\n\
             boot: cdrom\n\
             com1: enabled=1, mode=file, dev={SERIAL}\n\
             # This Debian build has no `nogui`: rfb listens on the first free TCP port of\n\
             # 5900-5949 (runs do not clash) and does not wait for a viewer.\n\
             display_library: rfb, options=\"timeout=0\"\n\
             log: {LOG}\n\
             clock: sync=none, time0=1\n\
             magic_break: enabled=0\n\
             # No sound: Bochs' ALSA driver aborts on a host without a sound card.\n\
             speaker: enabled=0\n\
             sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy\n\
             panic: action=report\n\
             error: action=report\n",
            megs = self.memory >> 20,
            cpu = self.cpu,
            count = self.count,
            bios = inst.bios.display(),
            vga = inst.vga_bios.display(),
        )
    }
}

/// Files in the folder Bochs runs in.
const ISO: &str = "kernel.iso";
const SERIAL: &str = "serial.txt";
/// Kept in the results folder.
pub const LOG: &str = "bochs.log";
pub const BOCHSRC: &str = "bochsrc";
/// The debugger's command file: continue at once.
const RC: &str = "cont.rc";
/// Bochs' own stdout and stderr.
const OUTPUT: &str = "bochs.out";

/// The kernel's words on Bochs: the given ones and `exit=halt`. An `exit=` other than halt is
/// refused (no exit device). (Models whose CPUID leaf 0x15/0x16 states the real part's TSC
/// rate while Bochs' TSC ticks at `ips` need no word: the kernel checks a CPUID rate against
/// a fixed timer and uses the timer's when they disagree.)
pub fn kernel_words(words: &[String]) -> Result<Vec<String>, String> {
    let mut out = words.to_vec();
    match words.iter().rev().find_map(|w| w.strip_prefix("exit=")) {
        None => out.push("exit=halt".into()),
        Some("halt") => {}
        Some(other) => {
            return Err(format!(
                "exit={other}: Bochs has no exit device; a Bochs run ends with exit=halt (added \
                 by the runner) and its `end` record"
            ));
        }
    }
    Ok(out)
}

/// The grub.cfg: boot the text-mode kernel at once with `words` (checked as for `--boot grub`),
/// GRUB's console also on COM1 (a GRUB error lands in console.log).
pub fn grub_cfg(words: &[String]) -> Result<String, String> {
    grub::check_cmdline(words)?;
    let mut line = format!("multiboot2 {}", grub::TEXT_KERNEL_IN_ISO);
    for w in words {
        line.push(' ');
        line.push_str(w);
    }
    Ok(format!(
        "# Written by the runner (--emulator bochs).\n\
         set timeout=0\n\
         set default=0\n\
         serial --unit=0 --speed=115200\n\
         terminal_input console serial\n\
         terminal_output console serial\n\
         menuentry \"kernel\" {{\n  {line}\n  boot\n}}\n"
    ))
}

/// What Bochs' log says: its `p[` (panic) and `e[` (error) lines.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogSummary {
    pub panics: usize,
    pub errors: usize,
    /// The first few of each, as logged.
    pub first_panics: Vec<String>,
    pub first_errors: Vec<String>,
    /// The CPU shut down after a third exception (a triple fault; the line logged).
    pub triple_fault: Option<String>,
}

const KEEP_LINES: usize = 5;

impl LogSummary {
    /// One line of bochs.log: `00295649774e[CPU0  ] ...`: a tick count, the level, `[`.
    pub fn add_line(&mut self, line: &str) {
        let rest = line.trim_start_matches(|c: char| c.is_ascii_digit());
        if rest.len() == line.len() {
            return;
        }
        let mut chars = rest.chars();
        let (Some(level), Some('[')) = (chars.next(), chars.next()) else {
            return;
        };
        let line = line.trim_end();
        match level {
            'p' => {
                self.panics += 1;
                if self.first_panics.len() < KEEP_LINES {
                    self.first_panics.push(line.to_string());
                }
                if line.contains("exception with no resolution") && self.triple_fault.is_none() {
                    self.triple_fault = Some(line.to_string());
                }
            }
            'e' => {
                self.errors += 1;
                if self.first_errors.len() < KEEP_LINES {
                    self.first_errors.push(line.to_string());
                }
            }
            _ => {}
        }
    }

    /// `bochs.log: 0 panic lines (p[), 6 error lines (e[); first: ...`, or None when there are
    /// neither; the first line is left out when `message` (the outcome's) already shows it.
    pub fn note(&self, message: &str) -> Option<String> {
        if self.panics == 0 && self.errors == 0 {
            return None;
        }
        let mut s = format!(
            "bochs.log: {} panic line{} (p[), {} error line{} (e[)",
            self.panics,
            if self.panics == 1 { "" } else { "s" },
            self.errors,
            if self.errors == 1 { "" } else { "s" },
        );
        if let Some(first) = self.first_panics.first().or(self.first_errors.first())
            && !message.contains(strip_tick(first))
        {
            s.push_str(&format!("; first: {}", strip_tick(first)));
        }
        Some(s)
    }
}

/// `00295649774e[CPU0  ] RDMSR: ...` → `e[CPU0  ] RDMSR: ...`.
fn strip_tick(line: &str) -> &str {
    line.trim_start_matches(|c: char| c.is_ascii_digit())
}

/// A COM1 line without GRUB's terminal control sequences (`ESC [ ... letter`, which clear the
/// screen before the kernel starts) and carriage returns.
pub fn clean_serial_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // Parameters and intermediates, then one final byte in @..~.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Follows a file that another process appends to, line by line.
struct Tail {
    path: PathBuf,
    file: Option<File>,
    partial: Vec<u8>,
}

impl Tail {
    fn new(path: PathBuf) -> Tail {
        Tail {
            path,
            file: None,
            partial: Vec::new(),
        }
    }

    /// Calls `f` for every complete line appended since the last call (without `\r\n`);
    /// with `all`, also for a last line without its newline.
    fn poll(&mut self, all: bool, mut f: impl FnMut(&str)) {
        if self.file.is_none() {
            self.file = File::open(&self.path).ok();
        }
        if let Some(file) = &mut self.file {
            let _ = file.read_to_end(&mut self.partial);
        }
        let mut start = 0;
        while let Some(n) = self.partial[start..].iter().position(|&b| b == b'\n') {
            let mut line = &self.partial[start..start + n];
            while let [rest @ .., b'\r'] = line {
                line = rest;
            }
            f(&String::from_utf8_lossy(line));
            start += n + 1;
        }
        self.partial.drain(..start);
        if all && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            f(String::from_utf8_lossy(&line).trim_end_matches('\r'));
        }
    }
}

/// Everything a Bochs run produced: the report every run has, and Bochs' log.
pub struct BochsReport {
    pub report: RunReport,
    pub log: LogSummary,
}

/// The outcome from the `end` record's status (the kernel's exit codes, as words).
fn outcome_of_end(status: &str) -> Outcome {
    let (kind, message) = match status {
        "pass" => return Outcome::Pass,
        "fail" => (
            OutcomeKind::TestFailed,
            "test failure: a test or benchmark check failed (`end` record: fail)".to_string(),
        ),
        "panic" => (
            OutcomeKind::Panic,
            "kernel panic (`end` record: panic)".to_string(),
        ),
        "exception" => (
            OutcomeKind::Exception,
            "unexpected CPU exception (`end` record: exception)".to_string(),
        ),
        "bad_cmdline" => (
            OutcomeKind::BadCmdline,
            "bad kernel command line (`end` record: bad_cmdline)".to_string(),
        ),
        other => (
            OutcomeKind::EndNotPass,
            format!("the kernel's `end` record says status '{other}'"),
        ),
    };
    Outcome::Emulator { kind, message }
}

/// How the run ended, when it was the emulator that stopped (no `end` record).
#[derive(Clone, Debug, PartialEq)]
enum Stop {
    /// The `end` record arrived (the runner stopped Bochs).
    End,
    Panic,
    Exited(ProcessEnd),
    Timeout,
}

/// The outcome: the `end` record when there is one, else what stopped the run.
fn classify(
    stop: &Stop,
    end: Option<&str>,
    log: &LogSummary,
    timeout: f64,
    output: &str,
) -> Outcome {
    if let Some(status) = end {
        return outcome_of_end(status);
    }
    let (kind, message) = if let Some(line) = &log.triple_fault {
        (
            OutcomeKind::Reset,
            format!(
                "triple fault: Bochs logged '{}' and the CPU shut down (see bochs.log)",
                strip_tick(line)
            ),
        )
    } else {
        match stop {
            Stop::Timeout => (
                OutcomeKind::Timeout,
                format!("timeout after {timeout} s: Bochs killed"),
            ),
            Stop::Panic | Stop::End => (
                OutcomeKind::EmulatorError,
                format!(
                    "Bochs panic: {} (see bochs.log)",
                    log.first_panics.first().map_or("?", |l| strip_tick(l))
                ),
            ),
            Stop::Exited(e) => {
                let how = match e {
                    ProcessEnd::Status(s) => format!("exit status {s}"),
                    ProcessEnd::Signal(s) => format!("signal {s}"),
                    ProcessEnd::Timeout(_) => "timeout".into(),
                    ProcessEnd::Interrupted(s) => format!("runner interrupted by signal {s}"),
                };
                let tail: Vec<&str> = output
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .rev()
                    .take(8)
                    .collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                let first_err = log
                    .first_panics
                    .first()
                    .or(log.first_errors.first())
                    .map(|l| format!("; bochs.log: {}", strip_tick(l)))
                    .unwrap_or_default();
                (
                    OutcomeKind::EmulatorError,
                    format!(
                        "Bochs ended ({how}) before the kernel's `end` record{first_err}; its \
                         output:\n{}",
                        tail.join("\n")
                    ),
                )
            }
        }
    };
    Outcome::Emulator { kind, message }
}

/// PR_SET_PDEATHSIG: Bochs gets SIGKILL when the runner dies, whatever the way.
fn die_with_parent(cmd: &mut Command) {
    const PR_SET_PDEATHSIG: i32 = 1;
    const SIGKILL: i32 = 9;
    unsafe extern "C" {
        fn prctl(option: i32, ...) -> i32;
        fn getppid() -> i32;
    }
    let parent = std::process::id() as i32;
    // SAFETY: prctl and getppid are async-signal-safe; nothing is allocated between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The runner died before prctl took effect.
            if getppid() != parent {
                return Err(io::Error::other("the runner exited"));
            }
            Ok(())
        });
    }
}

/// How long to follow the console after the `end` record, for the lines the kernel prints while
/// it stops the other CPUs and halts.
const END_GRACE: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(25);

/// Boots the kernel once under Bochs. Errors are the runner's own (Bochs cannot be started, the
/// image cannot be built, the results folder is not writable); everything Bochs or the kernel
/// does is in the report.
pub fn run(
    vm: &BochsVm,
    inst: &Installation,
    elf: &Elf,
    host: &HostInfo,
    opts: &RunOptions,
) -> io::Result<BochsReport> {
    let words = kernel_words(opts.kernel_args).map_err(io::Error::other)?;
    let cfg = grub_cfg(&words).map_err(io::Error::other)?;
    let parent = opts
        .results
        .map_or_else(crate::target_dir, Path::to_path_buf);
    fs::create_dir_all(&parent)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", parent.display())))?;
    // Bochs runs in this folder (removed when the run returns): the image, its COM1 file.
    let work = TempDir::new_in(&parent).map_err(io::Error::other)?;
    let wd = work.path();
    let iso = grub::build_text_iso(&elf.path, &cfg, wd).map_err(io::Error::other)?;
    if iso != wd.join(ISO) {
        return Err(io::Error::other(format!(
            "unexpected image path {}",
            iso.display()
        )));
    }
    let bochsrc = vm.bochsrc(inst);
    fs::write(wd.join(BOCHSRC), &bochsrc)?;
    fs::write(wd.join(RC), "c\n")?;

    let mut console_file = None;
    let mut records_file = None;
    if let Some(dir) = opts.results {
        fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        console_file = Some(File::create(dir.join("console.log"))?);
        records_file = Some(File::create(dir.join("records.jsonl"))?);
        for stale in ["host.json", LOG, BOCHSRC] {
            let _ = fs::remove_file(dir.join(stale));
        }
        fs::write(dir.join(BOCHSRC), &bochsrc)?;
    }

    let args = ["-q", "-f", BOCHSRC, "-rc", RC];
    let mut cmdline = vec![PROGRAM.to_string()];
    cmdline.extend(args.iter().map(|s| s.to_string()));
    let output = File::create(wd.join(OUTPUT))?;
    let mut cmd = Command::new(PROGRAM);
    cmd.args(args)
        .current_dir(wd)
        .stdin(Stdio::null())
        .stdout(output.try_clone()?)
        .stderr(output);
    die_with_parent(&mut cmd);

    let started = SystemTime::now();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(vm.timeout);
    let mut child: Child = cmd.spawn().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot start {PROGRAM}: {e} ({SETUP_HINT})"),
        )
    })?;

    let mut serial = Tail::new(wd.join(SERIAL));
    let mut log_tail = Tail::new(wd.join(LOG));
    let mut log = LogSummary::default();
    let mut console = Vec::new();
    let mut recs: Vec<Record> = Vec::new();
    let mut malformed = Vec::new();
    let mut write_err: Option<io::Error> = None;
    let mut end_at: Option<Instant> = None;
    let mut halted = false;
    let mut handle = |line: &str,
                      console: &mut Vec<String>,
                      recs: &mut Vec<Record>,
                      end_at: &mut Option<Instant>,
                      halted: &mut bool| {
        let line = &clean_serial_line(line);
        let shown = match &elf.symbols {
            Some(t) => annotate_line(line, t),
            None => line.to_string(),
        };
        if opts.echo {
            println!("{shown}");
        }
        if let Some(f) = &mut console_file
            && let Err(e) = writeln!(f, "{shown}")
        {
            write_err.get_or_insert(e);
        }
        match records::parse_line(line) {
            Line::Log => {}
            Line::Record(r) => {
                if let Some(prefix) = opts.progress {
                    crate::run::show_progress(prefix, &r, started, None);
                }
                if let Some(f) = &mut records_file {
                    let s = serde_json::to_string(&r).expect("a JSON map serialises");
                    if let Err(e) = writeln!(f, "{s}") {
                        write_err.get_or_insert(e);
                    }
                }
                if records::record_type(&r) == "end" && end_at.is_none() {
                    *end_at = Some(Instant::now());
                }
                recs.push(r);
            }
            Line::Malformed(why) => {
                eprintln!("runner: warning: malformed record line ({why}): {line}");
                malformed.push((line.to_string(), why));
            }
        }
        if line.contains(crate::screen::HALT_LINE) {
            *halted = true;
        }
        console.push(shown);
    };

    let stop = loop {
        serial.poll(false, |l| {
            handle(l, &mut console, &mut recs, &mut end_at, &mut halted)
        });
        log_tail.poll(false, |l| log.add_line(l));
        if let Some(t) = end_at
            && (halted || t.elapsed() >= END_GRACE)
        {
            break Stop::End;
        }
        if end_at.is_none() && log.panics > 0 {
            break Stop::Panic;
        }
        if let Some(status) = child.try_wait()? {
            break Stop::Exited(process_end(status));
        }
        if Instant::now() >= deadline {
            break Stop::Timeout;
        }
        std::thread::sleep(POLL);
    };
    let killed = matches!(stop, Stop::End | Stop::Panic | Stop::Timeout);
    let end = match &stop {
        Stop::Exited(e) => *e,
        _ => {
            // SIGKILL to Bochs' own PID.
            let _ = child.kill();
            let status = child.wait()?;
            if stop == Stop::Timeout {
                ProcessEnd::Timeout(vm.timeout)
            } else {
                process_end(status)
            }
        }
    };
    // What arrived before the kill.
    serial.poll(true, |l| {
        handle(l, &mut console, &mut recs, &mut end_at, &mut halted)
    });
    log_tail.poll(true, |l| log.add_line(l));
    if let Some(e) = write_err {
        return Err(e);
    }
    let duration = start.elapsed();
    let output = fs::read_to_string(wd.join(OUTPUT)).unwrap_or_default();
    let outcome = classify(&stop, records::end_status(&recs), &log, vm.timeout, &output);
    let report = RunReport {
        outcome,
        end,
        console,
        records: recs,
        malformed,
        stderr: output,
        duration,
        qemu_cmdline: cmdline,
    };
    if let Some(dir) = opts.results {
        if let Err(e) = fs::copy(wd.join(LOG), dir.join(LOG)) {
            eprintln!("runner: warning: no Bochs log to keep: {e}");
        }
        let j = host_json(vm, inst, elf, host, &report, &log, &words, killed, started);
        let text = serde_json::to_string_pretty(&j).expect("serialises") + "\n";
        fs::write(dir.join("host.json"), text)?;
    }
    Ok(BochsReport { report, log })
}

fn process_end(s: std::process::ExitStatus) -> ProcessEnd {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(code), _) => ProcessEnd::Status(code),
        (None, Some(sig)) => ProcessEnd::Signal(sig),
        (None, None) => ProcessEnd::Status(-1),
    }
}

/// host.json of a Bochs run: the fields of a QEMU run where they apply, and Bochs' own.
#[allow(clippy::too_many_arguments)]
fn host_json(
    vm: &BochsVm,
    inst: &Installation,
    elf: &Elf,
    host: &HostInfo,
    report: &RunReport,
    log: &LogSummary,
    words: &[String],
    stopped_by_runner: bool,
    started: SystemTime,
) -> Value {
    let mut m = match json!({
        "emulator": "bochs",
        "accelerator": "bochs",
        "deterministic": false,
        "bochs_version": inst.version,
        "bochs_package": inst.package_version,
        "bochs_cmdline": report.qemu_cmdline,
        "cpu_model": vm.cpu,
        "smp": vm.count,
        "cpu_count": vm.count,
        "ips": IPS,
        "memory": size_label(vm.memory),
        "memory_bytes": vm.memory,
        "firmware": inst.bios.display().to_string(),
        "vga_bios": inst.vga_bios.display().to_string(),
        "boot": "grub",
        "kernel_cmdline": words.join(" "),
        "stopped_by_runner": stopped_by_runner,
        "bochs_log_panics": log.panics,
        "bochs_log_errors": log.errors,
        "bochs_log_first_panics": log.first_panics,
        "bochs_log_first_errors": log.first_errors,
        "bochs_output": report.stderr,
    }) {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    };
    m.extend(crate::run::run_fields(
        elf, host, report, started, vm.timeout,
    ));
    Value::Object(m)
}

/// A Bochs case's VM: the model, the CPU count, 512 MiB.
fn bochs_vm(cpu: &str, count: u32, timeout: f64) -> VmConfig {
    VmConfig {
        cpu: Some(cpu.to_string()),
        smp: count,
        memory: 512 << 20,
        timeout: Some(timeout),
        ..VmConfig::default()
    }
}

/// Short names of the models in case names.
pub const MODELS: &[(&str, &str)] = &[
    ("haswell", "corei7_haswell_4770"),
    ("skylake-x", "corei7_skylake_x"),
    ("icelake", "corei7_icelake_u"),
    ("penryn", "core2_penryn_t9600"),
    ("p4-prescott", "p4_prescott_celeron_336"),
    ("ryzen", "ryzen"),
    ("zambezi", "zambezi"),
];

/// Models with PCID and INVPCID: the context record must say PCID is on.
const PCID_MODELS: &[&str] = &[
    "corei7_haswell_4770",
    "corei7_skylake_x",
    "corei7_icelake_u",
];
/// Models with SMEP and SMAP: the `smap_smep` self-test must pass (not skip).
const SMAP_MODELS: &[&str] = &["corei7_skylake_x", "corei7_icelake_u", "ryzen"];
const SMAP_PASSES: &str = r#"{"type":"test","name":"smap_smep","status":"pass"}"#;
const PCID_ON: &str = r#""pcid_on":true"#;

/// The oracle's words on Bochs: few samples (each takes ~1 ms of emulated time per CPU).
const ORACLE: &[&str] = &[
    "bench=shootdown_oracle",
    "bench_samples=100",
    "bench_warmup=10",
];

/// The Bochs cases: in CI the self-tests on Skylake-X ×2 and the shootdown oracle on Haswell ×4
/// (correct: every check passes with PCID on; `skip_invlpg`: every oracle check fails); in the
/// full matrix the self-tests on every model and the oracle on two CPUs for a few.
pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let short = |model: &str| {
        MODELS
            .iter()
            .find(|(_, m)| *m == model)
            .map_or(model, |(s, _)| s)
            .to_string()
    };
    let selftests = |model: &str, count: u32, ci: bool| {
        let mut c = case(
            &format!("bochs-selftests-{}-{count}", short(model)),
            bochs_vm(model, count, 120.0),
            &["test=all"],
            OutcomeKind::Pass,
        );
        c.emulator = Emulator::Bochs;
        if PCID_MODELS.contains(&model) {
            c.console_contains.push(PCID_ON);
        }
        if SMAP_MODELS.contains(&model) {
            c.console_contains.push(SMAP_PASSES);
        }
        c.ci = ci;
        c
    };
    // `brk`: a `shootdown_break=` variant (None: the correct protocols), run by the oracle on
    // the protocols it applies to; every oracle check must then fail.
    let oracle = |model: &str, count: u32, brk: Option<&'static str>, ci: bool| {
        let arg = brk.map(|b| format!("shootdown_break={b}"));
        let mut args = ORACLE.to_vec();
        args.extend(arg.as_deref());
        let mut c = case(
            &format!(
                "bochs-oracle-{}-{}-{count}",
                brk.map_or("correct".to_string(), |b| b.replace('_', "-")),
                short(model)
            ),
            bochs_vm(model, count, 300.0),
            &args,
            if brk.is_some() {
                OutcomeKind::TestFailed
            } else {
                OutcomeKind::Pass
            },
        );
        c.emulator = Emulator::Bochs;
        c.benches = &["shootdown_oracle"];
        if brk.is_some() {
            c.failing_checks = &["shootdown_oracle*"];
        }
        if PCID_MODELS.contains(&model) {
            c.console_contains.push(PCID_ON);
        }
        c.ci = ci;
        c
    };
    out.push(selftests("corei7_skylake_x", 2, true));
    // The oracle with PCID, INVPCID and x2APIC (unicast, all-but-self, cluster multicast), and
    // on an AMD model in xAPIC mode.
    out.push(oracle("corei7_haswell_4770", 4, None, true));
    out.push(oracle("corei7_haswell_4770", 4, Some("skip_invlpg"), true));
    // The protocols' own negative controls, each on the protocols it applies to (short).
    for brk in ["early_return", "skip_catchup", "recycle_early"] {
        out.push(oracle("corei7_haswell_4770", 4, Some(brk), true));
    }
    out.push(oracle("ryzen", 2, None, true));
    out.push(oracle("ryzen", 2, Some("skip_invlpg"), true));
    // Not `skip_local`: on Bochs the initiator's own entry for a 1-page kernel-half change
    // is gone before it reads the page back (its small TLB), so that control has no
    // detection power there in those configurations; TCG catches it in every one.
    out.push(oracle("corei7_haswell_4770", 4, Some("leave_out"), false));
    for brk in ["early_return", "recycle_early"] {
        out.push(oracle("ryzen", 2, Some(brk), false));
    }
    for (_, model) in MODELS {
        if *model != "corei7_skylake_x" {
            out.push(selftests(model, 2, false));
        }
    }
    out.push(selftests("corei7_haswell_4770", 4, false));
    for model in ["corei7_skylake_x", "corei7_icelake_u"] {
        out.push(oracle(model, 2, None, false));
    }
    out.push(oracle("corei7_skylake_x", 2, Some("skip_invlpg"), false));
    // Every page-fault variant and its page checks on an independent x86 (PCID model: the
    // user arena's faults run with PCIDs), and the pool audit's negative control; ryzen:
    // an AMD model, where `pf_zero=clzero` runs if the model has CLZERO (else a skip).
    for (model, extra, brk, ci) in [
        ("corei7_skylake_x", None, false, true),
        ("corei7_skylake_x", None, true, true),
        ("ryzen", Some("pf_zero=clzero"), false, true),
    ] {
        let mut args = vec!["bench=pf", "bench_samples=12", "bench_warmup=1"];
        args.extend(extra);
        if brk {
            args.extend(["pf_variant=prezeroed", "pf_break=poison_pool"]);
        }
        let mut c = case(
            &format!(
                "bochs-pf-variants{}-{}",
                if brk { "-poison-pool" } else { "" },
                short(model)
            ),
            bochs_vm(model, 1, 300.0),
            &args,
            if brk {
                OutcomeKind::TestFailed
            } else {
                OutcomeKind::Pass
            },
        );
        c.emulator = Emulator::Bochs;
        c.benches = &["pf_kernel", "pf_user"];
        if brk {
            c.failing_checks = &[
                "pf_pool_audit/*",
                "pf_pages_checked/kernel/write/prezeroed",
                "pf_pages_checked/user/write/prezeroed",
            ];
        }
        c.ci = ci;
        out.push(c);
    }
    // A triple fault ends the run at once with a clear message (Bochs logs a panic and shuts
    // the CPU down; reset_on_triple_fault=0 keeps it from rebooting into GRUB).
    let mut c = case(
        "bochs-triple-fault",
        bochs_vm("corei7_haswell_4770", 1, 60.0),
        &["crash=triple_fault"],
        OutcomeKind::Reset,
    );
    c.emulator = Emulator::Bochs;
    c.ci = false;
    out.push(c);
    out
}

/// How a Bochs case ended, for `runner test`.
pub enum CaseResult {
    Pass(String),
    Fail(String),
    Skip(String),
}

/// Runs one Bochs case into `dir`: skipped when Bochs is not installed; else booted and
/// judged by the case's expectation (as a QEMU case).
pub fn run_case(
    c: &Case,
    inst: &Result<Installation, String>,
    elf: &Elf,
    host: &HostInfo,
    dir: &Path,
    echo: bool,
) -> CaseResult {
    let inst = match inst {
        Ok(i) => i,
        Err(e) => return CaseResult::Skip(e.clone()),
    };
    let vm = match BochsVm::new(&c.vm, &c.kernel_args, &inst.models) {
        Ok(v) => v,
        Err(e) => return CaseResult::Fail(e),
    };
    let opts = RunOptions {
        qemu: PROGRAM,
        qemu_args: &[],
        kernel_args: &c.kernel_args,
        echo,
        results: Some(dir),
        progress: None,
        screen: None,
    };
    let r = match run(&vm, inst, elf, host, &opts) {
        Ok(r) => r,
        Err(e) => return CaseResult::Fail(format!("runner error: {e}")),
    };
    let secs = r.report.duration.as_secs_f64();
    let note = r
        .log
        .note(&r.report.outcome.message())
        .map(|n| format!("; {n}"))
        .unwrap_or_default();
    let verdict = crate::cases::evaluate(c, &crate::cases::Evidence::from(&r.report))
        .and_then(|()| crate::cases::check_report(c, dir));
    match verdict {
        Ok(()) => CaseResult::Pass(format!("{secs:.1} s{note}")),
        Err(why) => CaseResult::Fail(format!("{why} ({secs:.1} s{note})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn models_and_version() {
        let help = "00000000000i[      ] LTDL_LIBRARY_PATH not set.\nSupported CPU models:\n\n\
                    bx_generic\npentium\ncorei7_skylake_x\n\n00000000000i[SIM   ] quit_sim\n\
                    ====\n                        Bochs x86 Emulator 2.7\n";
        assert_eq!(
            parse_models(help),
            ["bx_generic", "pentium", "corei7_skylake_x"]
        );
        assert_eq!(parse_version(help).as_deref(), Some("2.7"));
        assert!(parse_models("no list here").is_empty());
    }

    #[test]
    fn words_and_config() {
        assert_eq!(
            kernel_words(&w(&["test=all"])).unwrap(),
            ["test=all", "exit=halt"]
        );
        assert_eq!(
            kernel_words(&w(&["tsc_calibration=pit", "exit=halt"])).unwrap(),
            ["tsc_calibration=pit", "exit=halt"]
        );
        let e = kernel_words(&w(&["exit=qemu"])).unwrap_err();
        assert!(e.contains("no exit device"), "{e}");
        let cfg = grub_cfg(&w(&["test=all", "exit=halt"])).unwrap();
        assert!(cfg.contains("set timeout=0\n"), "{cfg}");
        assert!(cfg.contains("serial --unit=0"), "{cfg}");
        assert!(
            cfg.contains("  multiboot2 /boot/kernel-text test=all exit=halt\n  boot\n"),
            "{cfg}"
        );
        assert!(grub_cfg(&w(&["a;b"])).is_err());

        let models = w(&["corei7_haswell_4770", "ryzen"]);
        let cfg = VmConfig {
            cpu: Some("ryzen".into()),
            smp: 3,
            memory: 512 << 20,
            ..VmConfig::default()
        };
        let vm = BochsVm::new(&cfg, &w(&["test=all"]), &models).unwrap();
        assert_eq!(vm.timeout, 210.0);
        let inst = Installation {
            version: "2.7".into(),
            package_version: None,
            bios: "/b/BIOS".into(),
            vga_bios: "/b/vga.bin".into(),
            models: models.clone(),
        };
        let rc = vm.bochsrc(&inst);
        for want in [
            "megs: 512\n",
            "cpu: model=ryzen, count=3, ips=50000000, reset_on_triple_fault=0\n",
            "romimage: file=/b/BIOS\n",
            "vgaromimage: file=/b/vga.bin\n",
            "ata0-master: type=cdrom, path=kernel.iso, status=inserted\n",
            "boot: cdrom\n",
            "com1: enabled=1, mode=file, dev=serial.txt\n",
            "display_library: rfb, options=\"timeout=0\"\n",
            "log: bochs.log\n",
            "clock: sync=none, time0=1\n",
            "panic: action=report\n",
        ] {
            assert!(rc.contains(want), "{want}: {rc}");
        }
        let bad = VmConfig {
            cpu: Some("pentium9".into()),
            ..cfg.clone()
        };
        let e = BochsVm::new(&bad, &[], &models).unwrap_err();
        assert!(e.contains("'pentium9'") && e.contains("ryzen"), "{e}");
        let default = BochsVm::new(&VmConfig::default(), &[], &[]).unwrap();
        assert_eq!(default.cpu, DEFAULT_CPU);
        assert_eq!(
            BochsVm::new(&cfg, &w(&["bench_quick"]), &models)
                .unwrap()
                .timeout,
            900.0
        );
    }

    #[test]
    fn log_lines() {
        let mut l = LogSummary::default();
        l.add_line("00295649774i[CPU0  ] WRMSR: wrote 00000000:fee00900 to MSR_APICBASE");
        l.add_line("00289305085e[CPU0  ] RDMSR: Unknown register 0xc0011029");
        l.add_line("| EIP=00000b9d (00000b9d)");
        l.add_line("");
        assert_eq!((l.panics, l.errors), (0, 1));
        assert!(l.triple_fault.is_none());
        let note = l.note("pass").unwrap();
        assert!(
            note.contains("0 panic lines (p[), 1 error line (e[)")
                && note.contains("first: e[CPU0  ] RDMSR"),
            "{note}"
        );
        assert!(
            !l.note("e[CPU0  ] RDMSR: Unknown register 0xc0011029")
                .unwrap()
                .contains("first")
        );
        l.add_line(
            "00199567632p[CPU0  ] >>PANIC<< exception(): 3rd (13) exception with no resolution",
        );
        assert_eq!(l.panics, 1);
        assert!(l.triple_fault.is_some());
        assert!(LogSummary::default().note("pass").is_none());
    }

    #[test]
    fn outcomes() {
        let none = LogSummary::default();
        let c = |stop: Stop, end: Option<&str>, log: &LogSummary| {
            classify(&stop, end, log, 30.0, "bochsrc:3: unknown option\n")
        };
        assert_eq!(c(Stop::End, Some("pass"), &none), Outcome::Pass);
        let fail = c(Stop::End, Some("fail"), &none);
        assert_eq!(fail.kind(), OutcomeKind::TestFailed);
        assert_eq!(fail.exit_code(), crate::outcome::exit::FAILED);
        assert_eq!(
            c(Stop::End, Some("panic"), &none).kind(),
            OutcomeKind::Panic
        );
        assert_eq!(
            c(Stop::End, Some("exception"), &none).kind(),
            OutcomeKind::Exception
        );
        assert_eq!(
            c(Stop::End, Some("bad_cmdline"), &none).kind(),
            OutcomeKind::BadCmdline
        );
        let t = c(Stop::Timeout, None, &none);
        assert_eq!(t.kind(), OutcomeKind::Timeout);
        assert_eq!(t.message(), "timeout after 30 s: Bochs killed");
        let mut tf = LogSummary::default();
        tf.add_line(
            "00199567632p[CPU0  ] >>PANIC<< exception(): 3rd (13) exception with no resolution",
        );
        let r = c(Stop::Panic, None, &tf);
        assert_eq!(r.kind(), OutcomeKind::Reset);
        assert!(
            r.message()
                .starts_with("triple fault: Bochs logged 'p[CPU0  ] >>PANIC<<"),
            "{}",
            r.message()
        );
        let mut p = LogSummary::default();
        p.add_line("00000000001p[MEM0  ] >>PANIC<< out of memory");
        let r = c(Stop::Panic, None, &p);
        assert_eq!(r.kind(), OutcomeKind::EmulatorError);
        assert!(
            r.message()
                .contains("Bochs panic: p[MEM0  ] >>PANIC<< out of memory")
        );
        let r = c(Stop::Exited(ProcessEnd::Status(1)), None, &none);
        assert_eq!(r.kind(), OutcomeKind::EmulatorError);
        assert!(r.message().contains("exit status 1") && r.message().contains("bochsrc:3"));
    }

    #[test]
    fn grub_escapes_are_dropped() {
        assert_eq!(
            clean_serial_line("\x1b[H\x1b[J\x1b[1;1H\x1b[H\x1b[J\x1b[1;1H  Booting `kernel'"),
            "  Booting `kernel'"
        );
        assert_eq!(clean_serial_line("\rkernel: entry"), "kernel: entry");
        assert_eq!(
            clean_serial_line("{\"type\":\"end\"}"),
            "{\"type\":\"end\"}"
        );
    }

    #[test]
    fn tail_follows_a_growing_file() {
        let dir = TempDir::new_in(&std::env::temp_dir()).unwrap();
        let path = dir.path().join("f");
        let mut t = Tail::new(path.clone());
        let mut got = Vec::new();
        t.poll(false, |l| got.push(l.to_string()));
        assert!(got.is_empty(), "no file yet");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"one\r\ntw").unwrap();
        t.poll(false, |l| got.push(l.to_string()));
        assert_eq!(got, ["one"]);
        f.write_all(b"o\nthree").unwrap();
        t.poll(false, |l| got.push(l.to_string()));
        assert_eq!(got, ["one", "two"]);
        t.poll(true, |l| got.push(l.to_string()));
        assert_eq!(got, ["one", "two", "three"]);
    }

    #[test]
    fn failing_check_prefix() {
        use crate::cases::{Evidence, evaluate};
        let broken = cases()
            .into_iter()
            .find(|c| c.name == "bochs-oracle-skip-invlpg-haswell-4")
            .unwrap();
        let result = r#"{"type":"result","bench":"shootdown_oracle","kind":"workload","params":{},"unit":"cycles","n":1,"warmup":0,"min":1,"p50":1,"p90":1,"p99":1,"p999":1,"max":1,"mean":1,"stddev":0,"min_ns":1,"p50_ns":1,"p90_ns":1,"p99_ns":1,"p999_ns":1,"max_ns":1,"mean_ns":1,"stddev_ns":0,"hist":[[1,1]]}"#;
        let check = |name: &str, pass: bool| {
            format!(r#"{{"type":"check","name":"{name}","pass":{pass},"detail":"d"}}"#)
        };
        let judge = |lines: &[String]| {
            let recs: Vec<Record> = lines
                .iter()
                .map(|l| match records::parse_line(l) {
                    Line::Record(r) => r,
                    o => panic!("{o:?}"),
                })
                .collect();
            let console = vec![r#"{"type":"context","pcid_on":true}"#.to_string()];
            evaluate(
                &broken,
                &Evidence {
                    outcome: OutcomeKind::TestFailed,
                    outcome_message: String::new(),
                    console: &console,
                    records: &recs,
                    malformed: 0,
                },
            )
        };
        let r = result.to_string();
        // Per-configuration names: every one starting with the prefix fails.
        let caught = [
            r.clone(),
            check("shootdown_oracle_no_stale_reads_ipi_1", false),
            check("shootdown_oracle_no_stale_reads_user_ipi_8", false),
            check("shootdown_waits_for_acks", true),
        ];
        assert_eq!(judge(&caught), Ok(()));
        // One configuration without detection power fails the case.
        let missed = [
            r.clone(),
            check("shootdown_oracle_no_stale_reads_ipi_1", false),
            check("shootdown_oracle_no_stale_reads_user_ipi_1", true),
        ];
        let e = judge(&missed).unwrap_err();
        assert!(e.contains("shootdown_oracle_no_stale_reads_user_ipi_1") && e.contains("to fail"));
        // No oracle check at all.
        let e = judge(std::slice::from_ref(&r)).unwrap_err();
        assert!(e.contains("shootdown_oracle*"), "{e}");
        // Another failing check is still an error.
        let other = [
            r.clone(),
            check("shootdown_oracle_no_stale_reads", false),
            check("shootdown_waits_for_acks", false),
        ];
        assert!(
            judge(&other)
                .unwrap_err()
                .contains("shootdown_waits_for_acks")
        );
    }

    #[test]
    fn case_table() {
        let all = cases();
        let ci: Vec<&Case> = all.iter().filter(|c| c.ci).collect();
        // 8 self-test and oracle cases, 3 fault-variant cases.
        assert_eq!(ci.len(), 11);
        for c in &all {
            assert_eq!(c.emulator, Emulator::Bochs);
            assert!(c.name.starts_with("bochs-"), "{}", c.name);
            let models: Vec<&str> = MODELS.iter().map(|(_, m)| *m).collect();
            assert!(models.contains(&c.vm.cpu.as_deref().unwrap()), "{}", c.name);
            assert_eq!(grub::check_cmdline(&c.kernel_args), Ok(()), "{}", c.name);
        }
        let broken = all
            .iter()
            .find(|c| c.name == "bochs-oracle-skip-invlpg-haswell-4")
            .unwrap();
        assert!(broken.ci);
        assert_eq!(broken.failing_checks, ["shootdown_oracle*"]);
        let ryzen = all
            .iter()
            .find(|c| c.name == "bochs-oracle-skip-invlpg-ryzen-2")
            .unwrap();
        assert!(ryzen.ci);
        assert_eq!(broken.console_contains, [PCID_ON]);
        let skx = all
            .iter()
            .find(|c| c.name == "bochs-selftests-skylake-x-2")
            .unwrap();
        assert!(skx.ci);
        assert_eq!(skx.console_contains, [PCID_ON, SMAP_PASSES]);
        assert!(
            all.iter()
                .any(|c| c.name == "bochs-selftests-zambezi-2" && !c.ci)
        );
    }
}
