use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use runner::args::{self, Cli, RunArgs, TestArgs};
use runner::bochs::{self, Emulator};
use runner::cases::{self, Case, Evidence};
use runner::host::{self, Elf, HostInfo};
use runner::kvm::{self, KvmProbe};
use runner::outcome::{Outcome, exit};
use runner::run::{self, RunOptions};
use runner::vm::{Accel, Boot, ResolvedVm, size_label};
use runner::{errln, out, outln};

fn main() -> ExitCode {
    let argv = match args::from_os(std::env::args_os().skip(1)) {
        Ok(v) => v,
        Err(e) => {
            errln!("runner: error: {e}");
            return ExitCode::from(exit::USAGE as u8);
        }
    };
    let cli = args::parse(&argv);
    if matches!(cli, Ok(Cli::Run(_) | Cli::Test(_)))
        && let Err(e) = runner::signals::install()
    {
        errln!("runner: warning: cannot install the SIGINT/SIGTERM handler: {e}");
    }
    let code = match cli {
        // A usage error (exit 2), or the help or version asked for (exit 0).
        Err(e) => args::report(&e),
        Ok(Cli::Completions(shell)) => {
            out!("{}", args::completions(shell));
            exit::PASS
        }
        Ok(Cli::Compare {
            old,
            new,
            json: true,
        }) => match bench_report::compare::compare_json(&old, &new) {
            Ok(v) => {
                outln!("{}", serde_json::to_string_pretty(&v).expect("serialises"));
                exit::PASS
            }
            Err(e) => setup_error(&e.to_string()),
        },
        Ok(Cli::Compare { old, new, .. }) => match compare_any(&old, &new) {
            Ok(text) => {
                outln!("{text}");
                exit::PASS
            }
            Err(e) => setup_error(&e.to_string()),
        },
        Ok(Cli::Readme) => cmd_readme(),
        Ok(Cli::Plot(dir)) => match bench_report::redraw_plots(&dir) {
            Ok(rep) => {
                for w in &rep.warnings {
                    errln!("runner: warning: {w}");
                }
                for f in &rep.files {
                    outln!("{}", f.display());
                }
                exit::PASS
            }
            Err(e) => setup_error(&e.to_string()),
        },
        Ok(Cli::Usb { device, image, yes }) => {
            match runner::usb::write_image(&device, &image, yes) {
                Ok(()) => exit::PASS,
                Err(e) => {
                    errln!("runner: usb: {e}");
                    exit::FAILED
                }
            }
        }
        Ok(Cli::Image(a)) => {
            if let Err(e) = load_elf(&a.kernel) {
                return ExitCode::from(u8::try_from(setup_error(&e)).unwrap_or(1));
            }
            match runner::grub::build_image(&a.kernel, a.default, a.menu_timeout, &a.out) {
                Ok(()) => {
                    errln!(
                        "runner: bootable image (BIOS and UEFI, CD or USB stick), menu default \
                         '{}' after {} s",
                        a.default.name(),
                        a.menu_timeout
                    );
                    outln!("{}", a.out.display());
                    exit::PASS
                }
                Err(e) => setup_error(&e),
            }
        }
        Ok(Cli::KvmProbe { qemu }) => {
            let p = kvm::probe(&qemu);
            outln!("{}", p.report());
            if p.usable { exit::PASS } else { exit::FAILED }
        }
        Ok(Cli::Run(r)) => cmd_run(r),
        Ok(Cli::Test(t)) => cmd_test(t),
    };
    // A stop signal: the run's results are written; end by that signal.
    if let Some(sig) = runner::signals::caught() {
        runner::signals::die_by(sig);
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Boot `boot` of a run: its results folder (`boot-N` when repeating) and its progress prefix.
fn boot_plan(r: &RunArgs, boot: u32) -> (Option<PathBuf>, String) {
    if r.repeat > 1 {
        (
            r.results.as_ref().map(|d| d.join(format!("boot-{boot}"))),
            format!("boot {boot}/{} ", r.repeat),
        )
    } else {
        (r.results.clone(), String::new())
    }
}

fn cmd_readme() -> i32 {
    let root = Path::new(".");
    let section = match bench_report::readme::section(root) {
        Ok(s) => s,
        Err(e) => return setup_error(&e.to_string()),
    };
    let readme = match std::fs::read_to_string("README.md") {
        Ok(t) => t,
        Err(e) => return setup_error(&format!("README.md: {e} (run from the repository root)")),
    };
    match bench_report::readme::splice(&readme, &section) {
        Ok(new) => {
            if let Err(e) = std::fs::write("README.md", new) {
                return setup_error(&format!("README.md: {e}"));
            }
            outln!("README.md: Results block regenerated from results/");
            exit::PASS
        }
        Err(e) => setup_error(&e),
    }
}

/// Two results folders side by side; when one is a Linux baseline run, ours against Linux on
/// the metrics both measure.
fn compare_any(a: &Path, b: &Path) -> Result<String, bench_report::Error> {
    use bench_report::linux::{compare_with_linux, is_linux};
    let linux_side = |d: &Path| {
        bench_report::model::load(d)
            .map(|r| is_linux(&r))
            .unwrap_or(false)
    };
    match (linux_side(a), linux_side(b)) {
        (false, true) => compare_with_linux(a, b),
        (true, false) => compare_with_linux(b, a),
        _ => bench_report::compare(a, b),
    }
}

fn setup_error(msg: &str) -> i32 {
    errln!("runner: error: {msg}");
    exit::SETUP
}

fn load_elf(path: &Path) -> Result<Elf, String> {
    let elf = host::load_elf(path)?;
    if let Some(w) = &elf.symbol_warning {
        errln!("runner: warning: {w}");
    }
    Ok(elf)
}

/// The Linux baseline's pieces: the pinned kernel (downloaded and unpacked, or from
/// `--linux-deb`) as the "ELF" to boot, and the initramfs from the benchmark program.
fn prepare_linux(l: &args::LinuxArgs) -> Result<(Elf, PathBuf, runner::linux::Package), String> {
    use runner::linux;
    let target = runner::target_dir();
    let pkg = linux::resolve_package(&target, l.deb.as_deref())?;
    if pkg.how == "newest" {
        errln!(
            "runner: notice: the pinned {}={} is no longer on the mirror; using the newest \
             the mirror offers, {}={} (sha256 {}, recorded in host.json)",
            linux::PACKAGE,
            linux::VERSION,
            pkg.name,
            pkg.version,
            pkg.sha256
        );
    }
    let cache = linux::cache_dir(&target, &pkg);
    let deb = pkg.file.clone();
    let vmlinuz = linux::unpack_kernel(&deb, &cache.join("unpacked"))?;
    let init = std::fs::read(&l.init).map_err(|e| {
        format!(
            "--init {}: {e} (just bench-linux builds it)",
            l.init.display()
        )
    })?;
    if !init.starts_with(b"\x7fELF") {
        return Err(format!("--init {}: not an ELF program", l.init.display()));
    }
    let initrd = linux::write_initramfs(&l.init, &cache)
        .map_err(|e| format!("initramfs in {}: {e}", cache.display()))?;
    let data = std::fs::read(&vmlinuz).map_err(|e| format!("{}: {e}", vmlinuz.display()))?;
    use sha2::Digest;
    let sha256 = sha2::Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    errln!(
        "runner: Linux baseline: {} {} ({}), initramfs {}",
        pkg.name,
        pkg.version,
        vmlinuz.display(),
        initrd.display()
    );
    Ok((
        Elf {
            path: vmlinuz,
            sha256,
            symbols: None,
            symbol_warning: None,
        },
        initrd,
        pkg,
    ))
}

fn cmd_run(mut r: RunArgs) -> i32 {
    // One runner per results folder, held until this function returns.
    let _lock = match r.results.as_deref().map(runner::results::lock) {
        Some(Err(e)) => return setup_error(&e),
        Some(Ok(l)) => Some(l),
        None => None,
    };
    if r.emulator == Emulator::Bochs {
        return cmd_run_bochs(r);
    }
    let mut linux_pkg = None;
    let elf = match &r.linux {
        Some(l) => match prepare_linux(l) {
            Ok((elf, initrd, pkg)) => {
                r.qemu_args
                    .extend(["-initrd".to_string(), initrd.display().to_string()]);
                linux_pkg = Some(pkg);
                elf
            }
            Err(e) => return setup_error(&e),
        },
        None => match load_elf(&r.kernel) {
            Ok(e) => e,
            Err(e) => return setup_error(&e),
        },
    };
    if !r.smp_given {
        r.vm.smp = runner::vm::default_smp();
    }
    // Resolve the accelerator (and the KVM CPU model) with the probe where needed.
    let need_probe = r.vm.accel == Accel::Auto || (r.vm.accel == Accel::Kvm && r.vm.cpu.is_none());
    let probe = need_probe.then(|| kvm::probe(&r.qemu));
    let accel = match (r.vm.accel, &probe) {
        (Accel::Auto, Some(p)) if p.usable && cases::software_kvm() => {
            errln!(
                "runner: this host's KVM is the software backend (kvm_pvm), not VT-x/AMD-V: \
                 faults and IPIs trap to it, so its figures are no hardware numbers; using TCG \
                 (--accel kvm to use it anyway)"
            );
            Accel::Tcg
        }
        (Accel::Auto, Some(p)) if p.usable => Accel::Kvm,
        (Accel::Auto, Some(p)) => {
            errln!("runner: KVM not usable ({}); using TCG", p.reason);
            Accel::Tcg
        }
        (Accel::Kvm, Some(p)) if !p.usable => {
            return setup_error(&format!("--accel kvm: KVM is not usable: {}", p.reason));
        }
        (a, _) => a,
    };
    if r.vm.timeout.is_none() && runner::vm::runs_benchmarks(&r.kernel_args) {
        let quick = r.kernel_args.iter().any(|w| w == "bench_quick");
        let mut t = runner::vm::bench_timeout_secs(accel, quick);
        if accel == Accel::Kvm && cases::software_kvm() {
            // Every fault, timer tick and IPI traps to the software backend: the quick suite
            // (every protocol, both spaces, the oracle) takes about half an hour there.
            t *= runner::vm::SOFTWARE_KVM_TIMEOUT_FACTOR;
        }
        r.vm.timeout = Some(t);
    }
    let kvm_cpu = probe.as_ref().and_then(|p| p.cpu_model.as_deref());
    let mut vm = match ResolvedVm::new(&r.vm, accel, kvm_cpu) {
        Ok(v) => v,
        Err(e) => return setup_error(&e),
    };
    // The parser checked the words; the VM may add `nosmap`.
    if r.linux.is_none()
        && let Err(e) = runner::vm::check_cmdline_len(&vm.kernel_words(&r.kernel_args))
    {
        errln!("runner: error: {e}");
        return exit::USAGE;
    }
    if let Some(l) = &r.linux {
        if vm.accel == Accel::Kvm && cases::software_kvm() {
            return setup_error(
                "this host's KVM is the software backend (kvm_pvm), which cannot run a stock \
                 Linux (emulation failures on cmpxchg16b, xrstor, int3); run the baseline with \
                 --accel tcg or icount",
            );
        }
        // Linux's command line: its console and options first, the benchmark's words after.
        r.kernel_args =
            runner::linux::cmdline(l.mitigations_off, vm.deterministic(), &r.kernel_args);
        if vm.deterministic() {
            // Fixed guest randomness (with nokaslr on the command line).
            r.qemu_args.extend(["-seed".to_string(), "1".to_string()]);
        }
        vm.nosmap = false;
        vm.bench_deterministic = false;
    }
    // Every sample into the results folder (samples.csv.gz); our kernel only.
    vm.bench_raw = r.results.is_some() && r.linux.is_none();
    let host = HostInfo::gather(&r.qemu);
    errln!(
        "runner: {} {} -cpu {} -smp {}{} -m {} firmware {}, boot {}, timeout {} s{}",
        vm.accel,
        vm.machine.name(),
        vm.cpu,
        vm.smp,
        if r.smp_given {
            ""
        } else {
            " (host-sized default)"
        },
        size_label(vm.memory),
        vm.firmware.name(),
        vm.boot.name(),
        vm.timeout,
        if r.repeat > 1 {
            format!(", {} boots", r.repeat)
        } else {
            String::new()
        }
    );
    if vm.nosmap {
        errln!(
            "runner: the software KVM backend (kvm_pvm) cannot run STAC/CLAC: kernel booted \
             with nosmap"
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(w) = runner::vm::scheduler_bound_warning(vm.accel, vm.smp, cores) {
        errln!("{w}");
    }
    if runner::signals::caught().is_some() {
        // Stopped before QEMU started: nothing was run, the folder keeps the last run.
        return exit::FAILED;
    }
    run_boots(&r, &r.qemu, &r.qemu_args, "", |opts, dir| {
        let report = run::run(&vm, &elf, &host, opts).map_err(|e| e.to_string())?;
        if !report.stderr.trim().is_empty() && !matches!(report.outcome, Outcome::QemuError { .. })
        {
            errln!("runner: QEMU stderr:\n{}", report.stderr.trim_end());
        }
        if let (Some(l), Some(p), Some(d)) = (&r.linux, &linux_pkg, dir) {
            note_linux_in_host_json(d, l, p);
        }
        Ok((report, String::new()))
    })
}

/// Boot `r.repeat` times with `boot_once` (into `boot-N` folders when repeating), print a
/// verdict per boot, then write the benchmark report (also for a benchmark run that stopped
/// before its first result: it says the run is incomplete and why). The folder holds this run
/// alone: it is cleared first. `boot_once` returns the boot's report and a note for its
/// verdict line. The exit status is the first boot's that was not a pass.
fn run_boots(
    r: &RunArgs,
    emulator: &str,
    emulator_args: &[String],
    results_note: &str,
    mut boot_once: impl FnMut(&RunOptions, Option<&Path>) -> Result<(run::RunReport, String), String>,
) -> i32 {
    if let Some(dir) = &r.results
        && let Err(e) = runner::results::clear(dir)
    {
        return setup_error(&format!("{}: {e}", dir.display()));
    }
    let mut worst = exit::PASS;
    let mut any_results = false;
    for boot in 1..=r.repeat {
        if runner::signals::caught().is_some() {
            break;
        }
        let (dir, prefix) = boot_plan(r, boot);
        let opts = RunOptions {
            qemu: emulator,
            qemu_args: emulator_args,
            kernel_args: &r.kernel_args,
            echo: !r.quiet,
            results: dir.as_deref(),
            progress: r.quiet.then_some(prefix.as_str()),
            screen: None,
        };
        let (report, note) = match boot_once(&opts, dir.as_deref()) {
            Ok(x) => x,
            Err(e) => return setup_error(&e),
        };
        let secs = report.duration.as_secs_f64();
        if report.outcome == Outcome::Pass {
            errln!("runner: {prefix}PASS ({secs:.1} s{note})");
        } else {
            errln!(
                "runner: {prefix}FAIL: {} ({secs:.1} s{note}){}",
                report.outcome.message(),
                if report.records_of("result").next().is_some() && !report.records_complete() {
                    "; the results received are kept, marked incomplete"
                } else {
                    ""
                }
            );
        }
        any_results |= report.records_of("result").next().is_some();
        let code = report.outcome.exit_code();
        if worst == exit::PASS {
            worst = code;
        }
    }
    if let Some(dir) = &r.results {
        if any_results || runner::vm::runs_benchmarks(&r.kernel_args) {
            match bench_report::write_report(dir) {
                Ok(rep) => {
                    if any_results {
                        outln!("\n{}", rep.summary);
                    }
                    for w in &rep.warnings {
                        errln!("runner: report: warning: {w}");
                    }
                }
                Err(e) => errln!("runner: cannot write the benchmark report: {e}"),
            }
        }
        errln!("runner: results in {}{results_note}", dir.display());
    }
    worst
}

/// `runner run --emulator bochs`: the same boots, console, results folder and exit statuses as
/// a QEMU run, on Bochs.
fn cmd_run_bochs(r: RunArgs) -> i32 {
    let elf = match load_elf(&r.kernel) {
        Ok(e) => e,
        Err(e) => return setup_error(&e),
    };
    let inst = match bochs::probe() {
        Ok(i) => i,
        Err(e) => return setup_error(&e),
    };
    let vm = match bochs::BochsVm::new(&r.vm, &r.kernel_args, &inst.models) {
        Ok(v) => v,
        Err(e) => return setup_error(&e),
    };
    let words = match bochs::kernel_words(&r.kernel_args) {
        Ok(w) => w,
        Err(e) => return setup_error(&e),
    };
    let host = HostInfo::gather(&r.qemu);
    eprintln!(
        "runner: Bochs {} cpu {} count {} megs {} ips {}, BIOS GRUB image, timeout {} s{}; \
         kernel: {}",
        inst.version,
        vm.cpu,
        vm.count,
        vm.memory >> 20,
        bochs::IPS,
        vm.timeout,
        if r.repeat > 1 {
            format!(", {} boots", r.repeat)
        } else {
            String::new()
        },
        words.join(" ")
    );
    run_boots(
        &r,
        bochs::PROGRAM,
        &[],
        " (with bochsrc and bochs.log)",
        |opts, _| {
            let rep = bochs::run(&vm, &inst, &elf, &host, opts).map_err(|e| e.to_string())?;
            let note = rep
                .log
                .note(&rep.report.outcome.message())
                .map(|n| format!("; {n}"))
                .unwrap_or_default();
            Ok((rep.report, note))
        },
    )
}

/// host.json of a Linux baseline run also names the kernel package and the mitigations.
fn note_linux_in_host_json(dir: &Path, l: &args::LinuxArgs, pkg: &runner::linux::Package) {
    let path = dir.join("host.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let Ok(serde_json::Value::Object(mut m)) = serde_json::from_str(&text) else {
        return;
    };
    m.insert("os".into(), "linux".into());
    m.insert(
        "linux_package".into(),
        format!("{}={}", pkg.name, pkg.version).into(),
    );
    m.insert("linux_package_sha256".into(), pkg.sha256.clone().into());
    m.insert("linux_package_source".into(), pkg.how.into());
    m.insert(
        "mitigations".into(),
        if l.mitigations_off { "off" } else { "default" }.into(),
    );
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(m)).unwrap_or_default();
    let _ = std::fs::write(&path, text + "\n");
}

fn describe(c: &Case) -> String {
    let args = if c.kernel_args.is_empty() {
        "(none)".to_string()
    } else {
        c.kernel_args.join(" ")
    };
    if c.emulator == Emulator::Bochs {
        return format!(
            "{:<34} {:<4} bochs  {} {:>4} smp={} timeout={}s  args: {args}  expect: {}",
            c.name,
            if c.ci { "ci" } else { "full" },
            c.vm.cpu.as_deref().unwrap_or(bochs::DEFAULT_CPU),
            size_label(c.vm.memory),
            c.vm.smp,
            c.vm.timeout.unwrap_or(0.0),
            c.expect
        );
    }
    let timeout =
        c.vm.timeout
            .map(|t| format!(" timeout={t}s"))
            .unwrap_or_default();
    let boot = match c.vm.boot {
        Boot::Kernel => String::new(),
        b => format!(" boot={}", b.name()),
    };
    let qemu = if c.qemu_args.is_empty() {
        String::new()
    } else {
        format!(" qemu: {}", c.qemu_args.join(" "))
    };
    format!(
        "{:<34} {:<4} {:<6} {:<4} {:<7} {:>4} smp={}{timeout}{boot}{qemu}  args: {args}  expect: {}",
        c.name,
        if c.ci { "ci" } else { "full" },
        c.vm.accel,
        c.vm.machine.name(),
        c.vm.firmware.name(),
        size_label(c.vm.memory),
        c.vm.smp,
        c.expect
    )
}

/// A path as short as possible for messages: relative to the current directory when inside it.
fn short(p: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| p.to_path_buf())
}

/// The host-side checks of the built kernel's code that `runner test` runs before booting
/// anything (runner::disasm).
const DISASM_CASE: &str = "percpu-accessor-disasm";
const IPI_FENCE_CASE: &str = "x2apic-ipi-fence-disasm";
const PERCPU_LINES_CASE: &str = "percpu-shared-lines";

fn cmd_test(t: TestArgs) -> i32 {
    let selected = cases::select(t.all, t.filter.as_deref());
    let disasm = t.filter.as_deref().is_none_or(|f| DISASM_CASE.contains(f));
    let ipi_fence = t
        .filter
        .as_deref()
        .is_none_or(|f| IPI_FENCE_CASE.contains(f));
    let percpu_lines = t
        .filter
        .as_deref()
        .is_none_or(|f| PERCPU_LINES_CASE.contains(f));
    if t.list {
        if disasm {
            outln!(
                "{DISASM_CASE:<44} host: objdump the kernel, one gs: instruction per scalar accessor"
            );
        }
        if ipi_fence {
            outln!(
                "{IPI_FENCE_CASE:<44} host: objdump the kernel, mfence; lfence before each x2APIC ICR WRMSR"
            );
        }
        if percpu_lines {
            outln!(
                "{PERCPU_LINES_CASE:<44} host: the ELF's .percpu symbols, each remotely used variable alone in its 64-byte lines"
            );
        }
        for c in &selected {
            outln!("{}", describe(c));
        }
        return exit::PASS;
    }
    if selected.is_empty() && !disasm && !ipi_fence && !percpu_lines {
        errln!("runner: no case matches (see `runner test --list --all`)");
        return exit::FAILED;
    }
    let kernel = t
        .kernel
        .as_deref()
        .expect("parser requires --kernel without --list");
    let elf = match load_elf(kernel) {
        Ok(e) => e,
        Err(e) => return setup_error(&e),
    };
    let host = HostInfo::gather(&t.qemu);
    let base = t
        .results
        .clone()
        .unwrap_or_else(runner::default_test_runs_dir);
    // One `runner test` per results folder (each case writes its own subfolder).
    let _lock = match runner::results::lock(&base) {
        Ok(l) => l,
        Err(e) => return setup_error(&e),
    };
    let mut probe: Option<KvmProbe> = None;
    let mut bochs_inst: Option<Result<bochs::Installation, String>> = None;
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let start = Instant::now();
    // The host-side checks of the built kernel, before any emulator runs.
    let mut verdict = |case: &str, r: Result<Vec<String>, Vec<String>>, what: &str| match r {
        Ok(lines) => {
            if t.verbose {
                for l in &lines {
                    outln!("    {l}");
                }
            }
            outln!("PASS {case} ({} {what})", lines.len());
            passed += 1;
        }
        Err(errs) => {
            outln!("FAIL {case}:");
            for e in &errs {
                outln!("    {e}");
            }
            failed += 1;
        }
    };
    if disasm || ipi_fence {
        let functions = runner::disasm::disassemble(kernel);
        if disasm {
            let r = functions
                .as_ref()
                .map_err(|e| vec![e.clone()])
                .and_then(runner::disasm::check_all);
            verdict(DISASM_CASE, r, "accessors");
        }
        if ipi_fence {
            let r = functions
                .as_ref()
                .map_err(|e| vec![e.clone()])
                .and_then(|f| {
                    runner::disasm::check_ipi_fence(f)
                        .map(|l| vec![l])
                        .map_err(|e| vec![e])
                });
            verdict(IPI_FENCE_CASE, r, "function");
        }
    }
    if percpu_lines {
        let r = runner::percpu_lines::check_kernel(kernel);
        verdict(PERCPU_LINES_CASE, r, "variables");
    }
    let mut stopped = None;
    for c in &selected {
        // A stop signal ends the matrix after the case it hit; a closed stdout (`| head`)
        // leaves no one to read the verdicts.
        if let Some(sig) = runner::signals::caught() {
            stopped = Some(format!("stopped by {}", runner::signals::name(sig)));
            break;
        }
        if runner::out::stdout_closed() {
            stopped = Some("stopped: stdout closed".to_string());
            break;
        }
        if c.emulator == Emulator::Bochs {
            let inst = bochs_inst.get_or_insert_with(bochs::probe);
            match bochs::run_case(c, inst, &elf, &host, &base.join(&c.name), t.verbose) {
                bochs::CaseResult::Pass(how) => {
                    outln!("PASS {} ({how})", c.name);
                    passed += 1;
                }
                bochs::CaseResult::Skip(why) => {
                    outln!("SKIP {}: {why}", c.name);
                    skipped += 1;
                }
                bochs::CaseResult::Fail(why) => {
                    outln!(
                        "FAIL {}: {why} (see {})",
                        c.name,
                        short(&base.join(&c.name).join("console.log")).display()
                    );
                    failed += 1;
                }
            }
            continue;
        }
        // Any accelerator: the baseline's kernel package comes from Debian's archive.
        if c.linux && !runner::linux::debian_host() {
            outln!(
                "SKIP {}: the Linux baseline fetches Debian's kernel package with apt, and \
                 this host is not Debian (runner linux --linux-deb PATH works anywhere)",
                c.name
            );
            skipped += 1;
            continue;
        }
        let kvm_cpu = if c.vm.accel == Accel::Kvm {
            let p = probe.get_or_insert_with(|| kvm::probe(&t.qemu));
            if !p.usable {
                outln!("SKIP {}: KVM not usable: {}", c.name, p.reason);
                skipped += 1;
                continue;
            }
            if c.needs_hardware_tlb && cases::software_kvm() {
                outln!(
                    "SKIP {}: this host's KVM is the software backend (kvm_pvm), whose shadow \
                     MMU resynchronises on every guest PTE write: no stale translation to catch",
                    c.name
                );
                skipped += 1;
                continue;
            }
            p.cpu_model.clone()
        } else {
            None
        };
        let mut vm = match ResolvedVm::new(&c.vm, c.vm.accel, kvm_cpu.as_deref()) {
            Ok(v) => v,
            Err(e) => {
                outln!("FAIL {}: {e}", c.name);
                failed += 1;
                continue;
            }
        };
        let dir = base.join(&c.name);
        if let Err(e) = runner::results::clear(&dir) {
            outln!("FAIL {}: {}: {e}", c.name, dir.display());
            failed += 1;
            continue;
        }
        let screen_file = dir.join(match c.screen {
            Some(runner::screen::Kind::Framebuffer) => "screen.ppm",
            _ => "screen-vga.bin",
        });
        // The Linux baseline: Debian's kernel and the initramfs instead of our kernel.
        let mut qemu_args = c.qemu_args.clone();
        let mut kernel_args = c.kernel_args.clone();
        let linux_elf = if c.linux {
            // Linux's command line takes none of our kernel's words.
            vm.bench_deterministic = false;
            let l = args::LinuxArgs {
                init: runner::target_dir().join("x86_64-unknown-linux-gnu/release/linux-bench"),
                deb: None,
                mitigations_off: false,
            };
            match prepare_linux(&l) {
                Ok((e, initrd, _)) => {
                    qemu_args.extend(["-initrd".to_string(), initrd.display().to_string()]);
                    kernel_args = runner::linux::cmdline(false, vm.deterministic(), &kernel_args);
                    if vm.deterministic() {
                        qemu_args.extend(["-seed".to_string(), "1".to_string()]);
                    }
                    Some(e)
                }
                Err(e) => {
                    outln!("FAIL {}: {e}", c.name);
                    failed += 1;
                    continue;
                }
            }
        } else {
            None
        };
        let opts = RunOptions {
            qemu: &t.qemu,
            qemu_args: &qemu_args,
            kernel_args: &kernel_args,
            echo: t.verbose,
            results: Some(&dir),
            progress: None,
            screen: c.screen.map(|k| (k, screen_file.as_path())),
        };
        let report = match run::run(&vm, linux_elf.as_ref().unwrap_or(&elf), &host, &opts) {
            Ok(r) => r,
            Err(e) => {
                outln!("FAIL {}: runner error: {e}", c.name);
                failed += 1;
                continue;
            }
        };
        let secs = report.duration.as_secs_f64();
        let verdict = cases::evaluate(c, &Evidence::from(&report))
            .and_then(|()| cases::check_report(c, &dir))
            .and_then(|()| cases::check_screen(c, &screen_file, &report.console));
        match verdict {
            Ok(()) => {
                outln!("PASS {} ({secs:.1} s)", c.name);
                passed += 1;
            }
            Err(why) => {
                outln!(
                    "FAIL {}: {why} (see {})",
                    c.name,
                    short(&dir.join("console.log")).display()
                );
                failed += 1;
            }
        }
    }
    outln!(
        "\n{passed} passed, {failed} failed, {skipped} skipped ({:.1} s){}; results in {}",
        start.elapsed().as_secs_f64(),
        stopped
            .as_deref()
            .map(|s| format!(", {s}"))
            .unwrap_or_default(),
        short(&base).display()
    );
    if failed > 0 || stopped.is_some() {
        exit::FAILED
    } else {
        exit::PASS
    }
}
