//! The runner's command line (hand-written: a handful of options, clear errors, fast build).

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use crate::bochs::Emulator;
use crate::grub;
use crate::vm::{
    Accel, Boot, Firmware, Machine, VmConfig, check_boot_firmware, check_cmdline_len,
    check_multiboot_firmware, parse_size,
};

pub const USAGE: &str = "\
runner: boot the kernel under QEMU, stream its serial console, record its results

USAGE:
    runner run --kernel ELF [OPTIONS] [-- KERNEL-ARGS...]
    runner test --kernel ELF [--all] [--filter SUBSTR] [--verbose] [--results DIR] [--qemu PATH]
    runner test --list [--all] [--filter SUBSTR]
    runner kvm-probe [--qemu PATH]
    runner linux --init PROGRAM [--linux-deb DEB] [--mitigations default|off] [run OPTIONS]
                            the Linux baseline: Debian's pinned stock kernel (apt-get download,
                            sha256 checked, unpacked under target/linux/) with an initramfs
                            whose /init is PROGRAM, on the same VM options as `run`;
                            `just bench-linux`
    runner image --kernel ELF [--out ISO] [--default suite|quick|selftests|custom]
                 [--menu-timeout SECS]
                            the bootable image (hybrid ISO: CD or USB stick, GRUB for BIOS and
                            UEFI, a menu of the suite, the quick suite, the self-tests and a
                            typed command line; default target/image/kernel.iso, suite, 10 s);
                            its path is the last line printed
    runner usb DEVICE [--image ISO] [--yes]
                            write the image to a removable drive after showing its model and
                            size and asking for its name (refuses a fixed, mounted or too small
                            drive); `just usb /dev/sdX`
    runner readme           rewrite README.md's Results block from results/{icount,tcg,
                            kvm-software} and the Linux folders results/linux-{icount,tcg}
                            (with -mitoff: Linux with mitigations=off, when committed) (run
                            from the repository root; `just readme-results`)
    runner compare OLD NEW  two benchmark results folders side by side (NEW/OLD ratios; with
                            repeated runs, whether a difference is beyond the spread)
    runner --help

run OPTIONS:
    --kernel ELF            the kernel (ELF64 x86-64; `just kernel` prints its path)
    --accel auto|kvm|tcg|icount
                            auto (default): KVM when the probe finds it usable and it is not
                            the software backend kvm_pvm, else TCG with a notice saying why;
                            icount: TCG single-threaded with `-icount shift=0,sleep=off`,
                            deterministic: the guest TSC counts
                            instructions (records in `cycles` are relabelled `instructions`)
    --emulator qemu|bochs   qemu (default); bochs: Bochs 2.7 (package bochs, with bochsbios and
                            vgabios) boots a BIOS GRUB image of the kernel with exit=halt, the
                            run ends at the `end` record; takes --cpu MODEL (`bochs --help
                            cpu`, default corei7_skylake_x), --smp, --memory, --timeout
                            (default 120 s + 30 s/CPU); bochsrc and bochs.log are kept in
                            --results
    --machine q35|pc        default q35
    --cpu MODEL             default: KVM the model the probe found working
                            (host,+invtsc or host,-arch-capabilities,+invtsc); TCG max;
                            icount max,-x2apic (QEMU's icount cannot run the x2APIC timer)
    --smp N                 CPUs; default: the host's CPU count, at least 2 and at most 8
                            (a vCPU waiting for a host core makes cross-CPU figures measure
                            the host's scheduler)
    --memory SIZE           e.g. 128M, 1G, 5G (default 1G)
    --firmware seabios|qboot|ovmf|PATH
                            default qboot (fast); seabios is QEMU's own default BIOS; ovmf is
                            UEFI (Debian's ovmf package), for --boot image only (the kernel
                            and grub boots are BIOS-only and are refused with it); from a CD
                            the default is seabios (qboot cannot boot a CD)
    --boot kernel|grub|image[:quick|:selftests]
                            kernel (default): QEMU's -kernel loader, Multiboot1; grub: a GRUB
                            CD image built with grub-mkrescue (scripts/setup.sh installs it)
                            that boots the kernel with Multiboot2, the kernel arguments on its
                            multiboot2 line (plain words: no quotes, `;`, `$`, newlines, ...);
                            image: the bare-metal image of `runner image` as a CD, its menu
                            entry chosen at once (no kernel arguments)
    --timeout SECS          kill QEMU after SECS (the records received so far are kept and the
                            run is marked incomplete); default TCG 30 s + 0.5 s/CPU, icount
                            twice that, KVM 20 s + 0.2 s/CPU; a benchmark run (no test=,
                            help or crash= word) gets 900 s with --quick, else 3600 s
    --results DIR           write console.log, records.jsonl, host.json into DIR; a folder
                            holds one run: what an earlier run wrote there (summary.md, csv/,
                            plots/, boot-N/, ...) is removed first, and a folder another
                            runner is using is refused (lock file DIR/.lock)
    --quick                 benchmark: the kernel's bench_quick (every workload, fewer samples)
    --bench LIST            benchmark groups: all or a comma list of floors, pf, pf_throughput,
                            shootdown, shootdown_phases, shootdown_topology,
                            shootdown_concurrent, shootdown_oracle (kernel bench=)
    --samples N, --warmup N, --bench-cpus N
                            kernel bench_samples=, bench_warmup=, bench_cpus=
    --repeat K              boot K times (1..100), each boot's results in DIR/boot-N, then
                            the spread across boots (median and range of the per-boot p50s)
    --compare OLD NEW       no run: two results folders side by side (as `runner compare`;
                            `just bench --compare OLD NEW`)
    --quiet                 do not stream the console; show the benchmark group being run
    --qemu PATH             QEMU binary, default qemu-system-x86_64
    --qemu-arg ARG          extra QEMU argument, repeatable
    -- KERNEL-ARGS...       kernel command line words (key=value), joined by spaces into -append
                            (or grub.cfg with --boot grub); at most 1024 bytes in all

test OPTIONS:
    --all                   the full matrix (default: the CI set)
    --filter SUBSTR         only cases whose name contains SUBSTR
    --list                  list the cases and exit
    --verbose               stream each case's console
    --results DIR           where each case's results folder goes (default target/test-runs);
                            a case writes DIR/<case>/{console.log,records.jsonl,host.json}

EXIT STATUS (run):
    0   pass: QEMU exit 33 and an `end` record with status pass
    1   a test or benchmark check failed (kernel exit 35), or the `end` record is not pass
    2   bad runner command line
    3   kernel panic (37)
    4   unexpected CPU exception (39)
    5   bad kernel command line (41)
    6   machine reset: QEMU exit 0 under -no-reboot, usually a triple fault (Bochs: the
        triple fault in its log)
    7   timeout: QEMU killed at the deadline
    8   incomplete: exit pass but no `end` record
    9   QEMU error (any other exit status; its stderr is printed); with Bochs: a Bochs panic
        or Bochs exiting before the `end` record
    10  QEMU crashed (killed by a signal)
    11  could not start: bad or missing ELF, missing firmware, KVM asked for but unusable,
        results folder not writable or in use by another runner, grub-mkrescue missing or
        failing (--boot grub)
    SIGINT, SIGTERM or SIGHUP to the runner: QEMU is killed, the results folder is written
        (host.json, the summary saying the run is incomplete and why), then the runner ends
        by that signal (a shell shows 130, 143 or 129)
EXIT STATUS (test): 0 every case passed or was skipped, 1 a case failed (or the matrix was
    stopped), 2 usage, 11 setup.
EXIT STATUS (kvm-probe): 0 KVM usable, 1 not usable.
";

pub const DEFAULT_QEMU: &str = "qemu-system-x86_64";

#[derive(Debug, PartialEq)]
pub struct RunArgs {
    pub kernel: PathBuf,
    pub vm: VmConfig,
    /// `--smp` was given (otherwise the default is sized to the host, see `default_smp`).
    pub smp_given: bool,
    pub results: Option<PathBuf>,
    /// Boot this many times (`--repeat`), each boot's results in `results/boot-N`.
    pub repeat: u32,
    pub quiet: bool,
    pub qemu: String,
    pub qemu_args: Vec<String>,
    pub kernel_args: Vec<String>,
    /// `runner linux`: boot Debian's kernel with the baseline's initramfs instead.
    pub linux: Option<LinuxArgs>,
    /// `--emulator bochs`: Bochs instead of QEMU (`vm.cpu`, `vm.smp`, `vm.memory` and
    /// `vm.timeout` apply).
    pub emulator: Emulator,
}

/// The Linux baseline's options (`runner linux`).
#[derive(Debug, PartialEq, Clone)]
pub struct LinuxArgs {
    /// The static benchmark program that becomes /init.
    pub init: PathBuf,
    /// A kernel package to use instead of downloading the pinned one.
    pub deb: Option<PathBuf>,
    pub mitigations_off: bool,
}

/// Benchmark groups the Linux program has (bench/linux/src/main.rs GROUPS).
pub const LINUX_GROUPS: &[&str] = &["floors", "pf", "pf_throughput", "shootdown"];

#[derive(Debug, PartialEq)]
pub struct ImageArgs {
    pub kernel: PathBuf,
    pub out: PathBuf,
    pub default: grub::Entry,
    pub menu_timeout: u32,
}

#[derive(Debug, PartialEq)]
pub struct TestArgs {
    pub kernel: Option<PathBuf>,
    pub all: bool,
    pub filter: Option<String>,
    pub list: bool,
    pub verbose: bool,
    pub results: Option<PathBuf>,
    pub qemu: String,
}

#[derive(Debug, PartialEq)]
pub enum Cli {
    Help,
    Run(RunArgs),
    Test(TestArgs),
    KvmProbe {
        qemu: String,
    },
    /// Regenerate README.md's Results block from the committed results folders.
    Readme,
    /// Build the bootable image.
    Image(ImageArgs),
    /// Write the image to a removable drive.
    Usb {
        device: String,
        image: PathBuf,
        yes: bool,
    },
    /// Two benchmark results folders side by side.
    Compare {
        old: PathBuf,
        new: PathBuf,
    },
}

#[derive(Debug, PartialEq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// The program's arguments as text (`std::env::args_os()` after the program name): an argument
/// that is not valid UTF-8 is refused, named by its position and shown with its bytes escaped.
pub fn from_os(args: impl IntoIterator<Item = OsString>) -> Result<Vec<String>, UsageError> {
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            a.into_string().map_err(|a| {
                UsageError(format!(
                    "argument {} ({a:?}) is not valid UTF-8: the runner and the kernel command \
                     line take UTF-8 text only",
                    i + 1
                ))
            })
        })
        .collect()
}

/// Walks `--opt value` / `--opt=value` / `--flag` words.
struct Words<'a> {
    words: &'a [String],
    pos: usize,
}

impl<'a> Words<'a> {
    /// The next option: (name, inline value from `--name=value`).
    fn next_opt(&mut self) -> Option<(&'a str, Option<&'a str>)> {
        let w = self.words.get(self.pos)?;
        self.pos += 1;
        Some(match w.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (w.as_str(), None),
        })
    }
    fn value(&mut self, name: &str, inline: Option<&'a str>) -> Result<&'a str, UsageError> {
        if let Some(v) = inline {
            return Ok(v);
        }
        match self.words.get(self.pos) {
            Some(v) if !v.starts_with("--") => {
                self.pos += 1;
                Ok(v)
            }
            _ => err(format!("option '{name}' needs a value")),
        }
    }
    fn rest(&mut self) -> &'a [String] {
        let r = &self.words[self.pos..];
        self.pos = self.words.len();
        r
    }
}

fn no_value(name: &str, inline: Option<&str>) -> Result<(), UsageError> {
    match inline {
        Some(v) => err(format!("option '{name}' takes no value (got '{v}')")),
        None => Ok(()),
    }
}

fn bad_value<T>(name: &str, v: &str, expected: &str) -> Result<T, UsageError> {
    err(format!(
        "invalid value '{v}' for '{name}': expected {expected}"
    ))
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Cli, UsageError> {
    let Some(sub) = args.first() else {
        return err("missing subcommand (run, test, kvm-probe)");
    };
    let mut w = Words {
        words: &args[1..],
        pos: 0,
    };
    match sub.as_str() {
        "-h" | "--help" | "help" => Ok(Cli::Help),
        "run" => parse_run(&mut w, false),
        "linux" => parse_run(&mut w, true),
        "test" => parse_test(&mut w),
        "compare" => {
            let rest: Vec<&String> = w.words[w.pos..].iter().collect();
            match rest.as_slice() {
                [old, new] if !old.starts_with('-') && !new.starts_with('-') => Ok(Cli::Compare {
                    old: PathBuf::from(old.as_str()),
                    new: PathBuf::from(new.as_str()),
                }),
                _ => err("compare needs two results folders: runner compare OLD NEW"),
            }
        }
        "image" => parse_image(&mut w),
        "usb" => {
            let mut device = None;
            let mut image = PathBuf::from("target/image/kernel.iso");
            let mut yes = false;
            while let Some((name, inline)) = w.next_opt() {
                match name {
                    "--image" => image = PathBuf::from(w.value(name, inline)?),
                    "--yes" => yes = true,
                    "-h" | "--help" => return Ok(Cli::Help),
                    d if !d.starts_with('-') && device.is_none() => device = Some(d.to_string()),
                    _ => return err(format!("unknown argument '{name}' for usb")),
                }
            }
            let Some(device) = device else {
                return err("usb needs a device: runner usb /dev/sdX");
            };
            Ok(Cli::Usb { device, image, yes })
        }
        "readme" => match w.words.get(w.pos) {
            None => Ok(Cli::Readme),
            Some(x) => err(format!("readme takes no arguments (got '{x}')")),
        },
        "kvm-probe" => {
            let mut qemu = DEFAULT_QEMU.to_string();
            while let Some((name, inline)) = w.next_opt() {
                match name {
                    "--qemu" => qemu = w.value(name, inline)?.to_string(),
                    "-h" | "--help" => return Ok(Cli::Help),
                    _ => return err(format!("unknown option '{name}' for kvm-probe")),
                }
            }
            Ok(Cli::KvmProbe { qemu })
        }
        other => err(format!(
            "unknown subcommand '{other}' (expected run, test or kvm-probe)"
        )),
    }
}

fn parse_image(w: &mut Words) -> Result<Cli, UsageError> {
    let mut kernel = None;
    let mut out = PathBuf::from("target/image/kernel.iso");
    let mut default = grub::Entry::Suite;
    let mut menu_timeout = 10;
    while let Some((name, inline)) = w.next_opt() {
        match name {
            "-h" | "--help" => return Ok(Cli::Help),
            "--kernel" => kernel = Some(PathBuf::from(w.value(name, inline)?)),
            "--out" => out = PathBuf::from(w.value(name, inline)?),
            "--default" => {
                let v = w.value(name, inline)?;
                default = match grub::Entry::parse(v) {
                    Some(e) => e,
                    None => return bad_value(name, v, "suite, quick, selftests or custom"),
                };
            }
            "--menu-timeout" => {
                let v = w.value(name, inline)?;
                menu_timeout = match v.parse::<u32>() {
                    Ok(n) if n <= 3600 => n,
                    _ => return bad_value(name, v, "seconds from 0 to 3600"),
                };
            }
            _ => return err(format!("unknown option '{name}' for image")),
        }
    }
    let Some(kernel) = kernel else {
        return err("image needs --kernel ELF");
    };
    Ok(Cli::Image(ImageArgs {
        kernel,
        out,
        default,
        menu_timeout,
    }))
}

/// VM options given on the command line (their defaults depend on it).
#[derive(Default)]
struct VmGiven {
    smp: bool,
    firmware: bool,
}

/// The options that shape the VM (`--accel`, `--machine`, `--cpu`, `--smp`, `--memory`,
/// `--firmware`, `--boot`, `--timeout`): Ok(true) when `name` is one of them.
fn parse_vm_option<'a>(
    name: &str,
    inline: Option<&'a str>,
    w: &mut Words<'a>,
    vm: &mut VmConfig,
    vm_given: &mut VmGiven,
) -> Result<bool, UsageError> {
    match name {
        "--accel" => {
            let v = w.value(name, inline)?;
            vm.accel = match Accel::parse(v) {
                Some(a) => a,
                None => return bad_value(name, v, "auto, kvm, tcg or icount"),
            };
        }
        "--machine" => {
            let v = w.value(name, inline)?;
            vm.machine = match Machine::parse(v) {
                Some(m) => m,
                None => return bad_value(name, v, "q35 or pc"),
            };
        }
        "--cpu" => vm.cpu = Some(w.value(name, inline)?.to_string()),
        "--smp" => {
            let v = w.value(name, inline)?;
            vm.smp = match v.parse::<u32>() {
                Ok(n) if (1..=4096).contains(&n) => n,
                _ => return bad_value(name, v, "a CPU count from 1 to 4096"),
            };
            vm_given.smp = true;
        }
        "--memory" => {
            let v = w.value(name, inline)?;
            vm.memory = parse_size(v).map_err(UsageError)?;
        }
        "--firmware" => {
            let v = w.value(name, inline)?;
            if v.is_empty() {
                return bad_value(name, v, "seabios, qboot or a file path");
            }
            vm.firmware = Firmware::parse(v);
            vm_given.firmware = true;
        }
        "--boot" => {
            let v = w.value(name, inline)?;
            vm.boot = match Boot::parse(v) {
                Some(b) => b,
                None => {
                    return bad_value(
                        name,
                        v,
                        "kernel, grub, image, image:quick or image:selftests",
                    );
                }
            };
        }
        "--timeout" => {
            let v = w.value(name, inline)?;
            vm.timeout = match v.parse::<f64>() {
                Ok(t) if t > 0.0 && t.is_finite() => Some(t),
                _ => return bad_value(name, v, "a positive number of seconds"),
            };
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_run(w: &mut Words, linux_mode: bool) -> Result<Cli, UsageError> {
    let mut kernel = None;
    let mut init = None;
    let mut deb = None;
    let mut mitigations_off = false;
    let mut vm = VmConfig::default();
    let mut vm_given = VmGiven::default();
    let mut results = None;
    let mut quiet = false;
    let mut repeat = 1;
    let mut compare: Option<(PathBuf, PathBuf)> = None;
    let mut qemu = DEFAULT_QEMU.to_string();
    let mut qemu_args = Vec::new();
    let mut kernel_args = Vec::new();
    let mut bench_args: Vec<String> = Vec::new();
    let mut emulator = Emulator::Qemu;
    while let Some((name, inline)) = w.next_opt() {
        match name {
            "--emulator" if !linux_mode => {
                let v = w.value(name, inline)?;
                emulator = match Emulator::parse(v) {
                    Some(e) => e,
                    None => return bad_value(name, v, "qemu or bochs"),
                };
            }
            "--" => {
                kernel_args = w.rest().to_vec();
            }
            "-h" | "--help" => return Ok(Cli::Help),
            "--kernel" => kernel = Some(PathBuf::from(w.value(name, inline)?)),
            "--init" if linux_mode => init = Some(PathBuf::from(w.value(name, inline)?)),
            "--linux-deb" if linux_mode => deb = Some(PathBuf::from(w.value(name, inline)?)),
            "--mitigations" if linux_mode => {
                let v = w.value(name, inline)?;
                mitigations_off = match v {
                    "default" => false,
                    "off" => true,
                    _ => return bad_value(name, v, "default or off"),
                };
            }
            _ if parse_vm_option(name, inline, w, &mut vm, &mut vm_given)? => {}
            "--results" => results = Some(PathBuf::from(w.value(name, inline)?)),
            "--repeat" => {
                let v = w.value(name, inline)?;
                repeat = match v.parse::<u32>() {
                    Ok(n) if (1..=100).contains(&n) => n,
                    _ => return bad_value(name, v, "a boot count from 1 to 100"),
                };
            }
            "--compare" => {
                // `just bench --compare OLD NEW`: no run, the two folders side by side.
                let old = w.value(name, inline)?;
                let new = w.value(name, None)?;
                compare = Some((PathBuf::from(old), PathBuf::from(new)));
            }
            // Benchmark shorthands: each becomes a kernel argument (checked below).
            "--quick" => {
                no_value(name, inline)?;
                bench_args.push("bench_quick".to_string());
            }
            "--bench" => bench_args.push(format!("bench={}", w.value(name, inline)?)),
            "--samples" => bench_args.push(format!("bench_samples={}", w.value(name, inline)?)),
            "--warmup" => bench_args.push(format!("bench_warmup={}", w.value(name, inline)?)),
            "--bench-cpus" => bench_args.push(format!("bench_cpus={}", w.value(name, inline)?)),
            "--quiet" => {
                no_value(name, inline)?;
                quiet = true;
            }
            "--qemu" => qemu = w.value(name, inline)?.to_string(),
            "--qemu-arg" => {
                // Values of --qemu-arg may themselves start with `-`.
                let v = match inline {
                    Some(v) => v,
                    None => match w.words.get(w.pos) {
                        Some(v) => {
                            w.pos += 1;
                            v.as_str()
                        }
                        None => return err("option '--qemu-arg' needs a value"),
                    },
                };
                qemu_args.push(v.to_string());
            }
            _ if name.starts_with('-') => return err(format!("unknown option '{name}' for run")),
            _ => {
                return err(format!(
                    "unexpected argument '{name}': kernel arguments go after `--` \
                     (runner run --kernel ELF -- {name})"
                ));
            }
        }
    }
    if let Some((old, new)) = compare {
        return Ok(Cli::Compare { old, new });
    }
    let linux = if linux_mode {
        let Some(init) = init else {
            return err(
                "linux needs --init PROGRAM (the static linux-bench; just bench-linux builds it)",
            );
        };
        Some(LinuxArgs {
            init,
            deb,
            mitigations_off,
        })
    } else {
        None
    };
    let kernel = match (kernel, linux_mode) {
        (Some(k), _) => k,
        (None, true) => PathBuf::new(),
        (None, false) => return err("run needs --kernel ELF"),
    };
    if repeat > 1 && results.is_none() {
        return err("--repeat needs --results DIR (each boot writes DIR/boot-N)");
    }
    bench_args.extend(kernel_args);
    let kernel_args = bench_args;
    if emulator == Emulator::Bochs {
        check_bochs(&vm, vm_given.firmware, &qemu, &qemu_args, &kernel_args)?;
    }
    check_boot(&mut vm, vm_given.firmware, &kernel_args)?;
    check_kernel_line(&kernel_args, linux_mode, &vm)?;
    Ok(Cli::Run(RunArgs {
        kernel,
        vm,
        smp_given: vm_given.smp,
        results,
        repeat,
        quiet,
        qemu,
        qemu_args,
        kernel_args,
        linux,
        emulator,
    }))
}

/// The kernel arguments, checked on the host before QEMU starts: the line's length, the
/// kernel's own parser, and for the Linux baseline its benchmark groups and loader.
fn check_kernel_line(
    kernel_args: &[String],
    linux_mode: bool,
    vm: &VmConfig,
) -> Result<(), UsageError> {
    if !linux_mode {
        // Linux boots from `-kernel` under UEFI too (its EFI stub); our Multiboot kernel does not.
        check_multiboot_firmware(vm.boot, &vm.firmware).map_err(UsageError)?;
        // The kernel refuses a longer line at boot: refuse it here, before QEMU starts.
        check_cmdline_len(kernel_args).map_err(UsageError)?;
    }
    // The kernel's own parser, on the host: a bad key or value is refused before QEMU starts.
    let line = kernel_args.join(" ");
    if let Err(e) = kernel_core::cmdline::parse(&line) {
        let mut help = String::new();
        let _ = kernel_core::cmdline::write_help(&mut help);
        return err(format!(
            "bad kernel command line: {e}\nvalid kernel options:\n{help}"
        ));
    }
    if linux_mode {
        for w in kernel_args {
            if let Some(list) = w.strip_prefix("bench=") {
                for g in list.split(',').filter(|g| *g != "all") {
                    if !LINUX_GROUPS.contains(&g) {
                        return err(format!(
                            "the Linux baseline has no benchmark group '{g}' (it has: {})",
                            LINUX_GROUPS.join(", ")
                        ));
                    }
                }
            }
        }
        if vm.boot != Boot::Kernel {
            return err("the Linux baseline boots with QEMU's -kernel loader only");
        }
    }
    Ok(())
}

/// `--emulator bochs`: no QEMU option (Bochs boots its own BIOS from a GRUB image), kernel
/// arguments that grub.cfg can carry, no exit device.
fn check_bochs(
    vm: &VmConfig,
    firmware_given: bool,
    qemu: &str,
    qemu_args: &[String],
    kernel_args: &[String],
) -> Result<(), UsageError> {
    let d = VmConfig::default();
    for (given, opt) in [
        (vm.accel != d.accel, "--accel"),
        (vm.machine != d.machine, "--machine"),
        (firmware_given, "--firmware"),
        (vm.boot != d.boot, "--boot"),
        (qemu != DEFAULT_QEMU, "--qemu"),
        (!qemu_args.is_empty(), "--qemu-arg"),
    ] {
        if given {
            return err(format!(
                "{opt} is a QEMU option; --emulator bochs takes --cpu MODEL (bochs --help cpu), \
                 --smp, --memory and --timeout"
            ));
        }
    }
    grub::check_cmdline(kernel_args).map_err(UsageError)?;
    crate::bochs::kernel_words(kernel_args)
        .map(|_| ())
        .map_err(UsageError)
}

/// With `--boot grub`: SeaBIOS unless a firmware was given, and that firmware able to boot a CD;
/// kernel arguments that grub.cfg can carry.
fn check_boot(
    vm: &mut VmConfig,
    firmware_given: bool,
    kernel_args: &[String],
) -> Result<(), UsageError> {
    if !vm.boot.is_cd() {
        return check_boot_firmware(vm.boot, &vm.firmware).map_err(UsageError);
    }
    if !firmware_given {
        vm.firmware = Firmware::SeaBios;
    }
    check_boot_firmware(vm.boot, &vm.firmware).map_err(UsageError)?;
    if let Boot::Image(e) = vm.boot {
        if !kernel_args.is_empty() {
            return err(format!(
                "--boot image:{} boots the image's menu entry, whose command line is fixed; \
                 kernel arguments ({}) need --boot grub",
                e.name(),
                kernel_args.join(" ")
            ));
        }
        return Ok(());
    }
    grub::check_cmdline(kernel_args).map_err(UsageError)
}

fn parse_test(w: &mut Words) -> Result<Cli, UsageError> {
    let mut t = TestArgs {
        kernel: None,
        all: false,
        filter: None,
        list: false,
        verbose: false,
        results: None,
        qemu: DEFAULT_QEMU.to_string(),
    };
    while let Some((name, inline)) = w.next_opt() {
        match name {
            "-h" | "--help" => return Ok(Cli::Help),
            "--kernel" => t.kernel = Some(PathBuf::from(w.value(name, inline)?)),
            "--all" => {
                no_value(name, inline)?;
                t.all = true;
            }
            "--list" => {
                no_value(name, inline)?;
                t.list = true;
            }
            "--verbose" => {
                no_value(name, inline)?;
                t.verbose = true;
            }
            "--filter" => t.filter = Some(w.value(name, inline)?.to_string()),
            "--results" => t.results = Some(PathBuf::from(w.value(name, inline)?)),
            "--qemu" => t.qemu = w.value(name, inline)?.to_string(),
            _ if name.starts_with('-') => return err(format!("unknown option '{name}' for test")),
            _ => return err(format!("unexpected argument '{name}' for test")),
        }
    }
    if t.kernel.is_none() && !t.list {
        return err("test needs --kernel ELF (or --list)");
    }
    Ok(Cli::Test(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Cli, UsageError> {
        let v: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        parse(&v)
    }

    fn run(s: &str) -> RunArgs {
        match p(s) {
            Ok(Cli::Run(r)) => r,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn usage_err(s: &str) -> String {
        match p(s) {
            Err(UsageError(m)) => m,
            other => panic!("{s}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn run_options() {
        let r = run(
            "run --kernel k.elf --accel icount --machine pc --cpu max --smp 4 --memory 5G \
                     --firmware seabios --timeout 12.5 --results out --quiet --qemu /q \
                     --qemu-arg -s --qemu-arg=-S -- test=all exit=qemu",
        );
        assert_eq!(r.kernel, PathBuf::from("k.elf"));
        assert_eq!(r.vm.accel, Accel::Icount);
        assert_eq!(r.vm.machine, Machine::Pc);
        assert_eq!(r.vm.cpu.as_deref(), Some("max"));
        assert_eq!(r.vm.smp, 4);
        assert_eq!(r.vm.memory, 5 << 30);
        assert_eq!(r.vm.firmware, Firmware::SeaBios);
        assert_eq!(r.vm.timeout, Some(12.5));
        assert_eq!(r.results, Some(PathBuf::from("out")));
        assert!(r.quiet);
        assert_eq!(r.qemu, "/q");
        assert_eq!(r.qemu_args, ["-s", "-S"]);
        assert_eq!(r.kernel_args, ["test=all", "exit=qemu"]);
        assert_eq!(r.vm.boot, Boot::Kernel);

        let d = run("run --kernel=k.elf");
        assert_eq!(d.vm, VmConfig::default());
        assert_eq!(d.qemu, DEFAULT_QEMU);
        assert!(d.kernel_args.is_empty() && !d.quiet);
        assert_eq!(
            run("run --kernel k --firmware /x/fw.rom").vm.firmware,
            Firmware::Path("/x/fw.rom".into())
        );
    }

    #[test]
    fn grub_boot() {
        let g = run("run --kernel k --boot grub -- test=all exit=qemu");
        assert_eq!(g.vm.boot, Boot::Grub);
        assert_eq!(
            g.vm.firmware,
            Firmware::SeaBios,
            "seabios by default with grub"
        );
        let g = run("run --kernel k --boot=grub --firmware /x/bios.bin");
        assert_eq!(g.vm.firmware, Firmware::Path("/x/bios.bin".into()));
        let k = run("run --kernel k --boot kernel -- test=all");
        assert_eq!(
            (k.vm.boot, &k.vm.firmware),
            (Boot::Kernel, &Firmware::Qboot)
        );

        let e = usage_err("run --kernel k --boot grub --firmware qboot");
        assert!(
            e.contains("qboot cannot boot from a CD") && e.contains("seabios"),
            "{e}"
        );
        let e = usage_err("run --kernel k --firmware qboot --boot grub");
        assert!(e.contains("qboot cannot boot from a CD"), "{e}");
        let e = usage_err("run --kernel k --boot grub -- test=all a;reboot");
        assert!(e.contains("\"a;reboot\"") && e.contains("';'"), "{e}");
        let e = usage_err("run --kernel k --boot grub -- x=\"y\"");
        assert!(e.contains("'\"'"), "{e}");
        let e = usage_err("run --kernel k --boot floppy");
        assert!(
            e.contains("'floppy'") && e.contains("kernel, grub, image"),
            "{e}"
        );
        // The image: its menu entry, a CD firmware, no kernel arguments.
        let r = run("run --kernel k --boot image:quick --firmware ovmf");
        assert_eq!(r.vm.boot, Boot::Image(grub::Entry::Quick));
        assert_eq!(r.vm.firmware, Firmware::Ovmf);
        assert_eq!(
            run("run --kernel k --boot image").vm.firmware,
            Firmware::SeaBios
        );
        assert!(usage_err("run --kernel k --boot image:custom").contains("'image:custom'"));
        let e = usage_err("run --kernel k --boot image -- test=all");
        assert!(e.contains("--boot grub"), "{e}");
        let e = usage_err("run --kernel k --boot image:quick --firmware qboot");
        assert!(e.contains("qboot cannot boot from a CD"), "{e}");
        match p("image --kernel k --default quick --menu-timeout 3") {
            Ok(Cli::Image(a)) => {
                assert_eq!(a.default, grub::Entry::Quick);
                assert_eq!(a.menu_timeout, 3);
                assert_eq!(a.out, PathBuf::from("target/image/kernel.iso"));
            }
            other => panic!("{other:?}"),
        }
        assert!(usage_err("image --kernel k --default fast").contains("'fast'"));
        assert!(usage_err("image").contains("--kernel"));
        // A newline cannot come through split_whitespace: build the words by hand.
        let words: Vec<String> = [
            "run",
            "--kernel",
            "k",
            "--boot",
            "grub",
            "--",
            "test=all\nboot",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match parse(&words) {
            Err(UsageError(e)) => assert!(e.contains("control character '\\n'"), "{e}"),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn repeat_compare_and_the_host_sized_default() {
        let r = run("run --kernel k --results out --repeat 3 --quick");
        assert_eq!(r.repeat, 3);
        assert!(!r.smp_given, "no --smp: the host-sized default applies");
        assert!(run("run --kernel k --smp 2").smp_given);
        assert_eq!(run("run --kernel k").repeat, 1);
        assert!(usage_err("run --kernel k --repeat 3").contains("--results"));
        assert!(usage_err("run --kernel k --results o --repeat 0").contains("'0'"));
        assert!(usage_err("run --kernel k --results o --repeat 101").contains("'101'"));
        // `just bench --compare OLD NEW` passes the bench recipe's own options too.
        assert_eq!(
            p("run --kernel k --results results/latest --quiet --compare a b"),
            Ok(Cli::Compare {
                old: "a".into(),
                new: "b".into()
            })
        );
        assert!(usage_err("run --kernel k --compare a").contains("'--compare' needs a value"));
    }

    #[test]
    fn bochs_emulator() {
        let r =
            run("run --kernel k --emulator bochs --cpu ryzen --smp 2 --memory 512M -- test=all");
        assert_eq!(r.emulator, Emulator::Bochs);
        assert_eq!(r.vm.cpu.as_deref(), Some("ryzen"));
        assert_eq!((r.vm.smp, r.vm.memory), (2, 512 << 20));
        assert_eq!(r.kernel_args, ["test=all"]);
        assert_eq!(run("run --kernel k").emulator, Emulator::Qemu);
        assert_eq!(
            run("run --kernel k --emulator=qemu").emulator,
            Emulator::Qemu
        );
        assert!(usage_err("run --kernel k --emulator vbox").contains("'vbox'"));
        for opt in [
            "--accel tcg",
            "--machine pc",
            "--firmware seabios",
            "--boot grub",
            "--qemu-arg -s",
        ] {
            let e = usage_err(&format!("run --kernel k --emulator bochs {opt}"));
            assert!(
                e.contains("is a QEMU option") && e.contains(opt.split(' ').next().unwrap()),
                "{e}"
            );
        }
        assert!(
            usage_err("run --kernel k --emulator bochs -- exit=qemu").contains("no exit device")
        );
        assert!(usage_err("run --kernel k --emulator bochs -- a;b").contains("';'"));
        assert!(run("run --kernel k --emulator bochs -- exit=halt").kernel_args == ["exit=halt"]);
        assert!(usage_err("linux --init i --emulator bochs").contains("'--emulator'"));
    }

    #[test]
    fn errors_name_the_culprit() {
        assert!(usage_err("run --kernel k --bogus").contains("'--bogus'"));
        assert!(usage_err("run --kernel k --accel fast").contains("'fast'"));
        assert!(usage_err("run --kernel k --machine virt").contains("'virt'"));
        assert!(usage_err("run --kernel k --smp 0").contains("'0'"));
        assert!(usage_err("run --kernel k --smp many").contains("'many'"));
        assert!(usage_err("run --kernel k --memory 12X").contains("'12X'"));
        assert!(usage_err("run --kernel k --timeout -1").contains("'-1'"));
        assert!(usage_err("run --kernel k --timeout 0").contains("'0'"));
        assert!(usage_err("run --kernel k --quiet=yes").contains("takes no value"));
        assert!(usage_err("run --kernel").contains("'--kernel' needs a value"));
        assert!(usage_err("run --kernel k test=all").contains("after `--`"));
        assert!(usage_err("run --accel tcg").contains("--kernel"));
        assert!(usage_err("fly").contains("'fly'"));
        assert!(usage_err("").contains("missing subcommand"));
        assert!(usage_err("test --kernel k --fast").contains("'--fast'"));
        assert!(usage_err("test").contains("--kernel"));
        assert!(usage_err("kvm-probe --x").contains("'--x'"));
    }

    #[test]
    fn non_utf8_arguments_are_named_not_a_panic() {
        use std::os::unix::ffi::OsStringExt;
        let ok = from_os(["run", "--kernel", "k"].map(OsString::from)).unwrap();
        assert_eq!(ok, ["run", "--kernel", "k"]);
        let bad = [
            OsString::from("run"),
            OsString::from("--"),
            OsString::from_vec(b"test=all\xff".to_vec()),
        ];
        let UsageError(e) = from_os(bad).unwrap_err();
        assert!(
            e.contains("argument 3") && e.contains("test=all\\xFF") && e.contains("UTF-8"),
            "{e}"
        );
    }

    #[test]
    fn a_kernel_command_line_over_the_kernel_limit_is_refused() {
        let max = kernel_core::bootinfo::CMDLINE_MAX;
        // "test=" + n letters: exactly the limit passes the length check (and reaches the
        // kernel's own parser), one byte more is refused before it.
        let word = |n: usize| format!("test={}", "a".repeat(n));
        let at = vec![
            "run".into(),
            "--kernel".into(),
            "k".into(),
            "--".into(),
            word(max - 5),
        ];
        let UsageError(e) = parse(&at).unwrap_err();
        assert!(e.contains("bad kernel command line"), "{e}");
        let over = vec![
            "run".into(),
            "--kernel".into(),
            "k".into(),
            "--".into(),
            word(max - 4),
        ];
        let UsageError(e) = parse(&over).unwrap_err();
        assert!(
            e.contains(&format!("{} bytes long", max + 1)) && e.contains(&format!("at most {max}")),
            "{e}"
        );
        // A valid line of many names (the reliability review's case): the same.
        let names = |n: usize| {
            let mut v: Vec<String> = ["run", "--kernel", "k", "--"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            v.push(format!("test={}", vec!["higher_half"; n].join(",")));
            v
        };
        assert!(parse(&names(100)).unwrap_err().0.contains("at most 1024"));
        assert!(matches!(parse(&names(80)), Ok(Cli::Run(_))));
    }

    #[test]
    fn uefi_firmware_with_a_bios_only_boot_is_refused() {
        let e = usage_err("run --kernel k --firmware ovmf");
        assert!(e.contains("UEFI") && e.contains("--boot image"), "{e}");
        let e = usage_err("run --kernel k --firmware ovmf --boot kernel -- test=all");
        assert!(e.contains("-kernel loader"), "{e}");
        let e = usage_err("run --kernel k --boot grub --firmware ovmf");
        assert!(e.contains("BIOS only") && e.contains("--boot image"), "{e}");
        // The image boots under UEFI; the Linux kernel boots from -kernel under OVMF.
        assert_eq!(
            run("run --kernel k --boot image --firmware ovmf")
                .vm
                .firmware,
            Firmware::Ovmf
        );
        assert!(matches!(
            p("linux --init i --firmware ovmf"),
            Ok(Cli::Run(_))
        ));
        // A firmware file recognised as UEFI by its header.
        let f = std::env::temp_dir().join(format!("args-uefi-{}.fd", std::process::id()));
        let mut data = vec![0u8; 0x100];
        data[0x28..0x2c].copy_from_slice(b"_FVH");
        std::fs::write(&f, &data).unwrap();
        let e = usage_err(&format!("run --kernel k --firmware {}", f.display()));
        assert!(e.contains("is UEFI"), "{e}");
        let _ = std::fs::remove_file(&f);
    }

    #[test]
    fn other_subcommands() {
        assert_eq!(p("--help"), Ok(Cli::Help));
        assert_eq!(p("run --help"), Ok(Cli::Help));
        assert_eq!(
            p("kvm-probe"),
            Ok(Cli::KvmProbe {
                qemu: DEFAULT_QEMU.into()
            })
        );
        assert_eq!(
            p("compare a b"),
            Ok(Cli::Compare {
                old: "a".into(),
                new: "b".into()
            })
        );
        assert!(p("compare a").is_err());
        assert!(p("run --kernel k -- bench=nosuch").is_err());
        assert!(p("run --kernel k --samples 0").is_err());
        match p("run --kernel k --quick --bench pf -- exit=qemu") {
            Ok(Cli::Run(r)) => assert_eq!(r.kernel_args, ["bench_quick", "bench=pf", "exit=qemu"]),
            other => panic!("{other:?}"),
        }
        match p("test --list --all --filter crash") {
            Ok(Cli::Test(t)) => {
                assert!(t.list && t.all && t.kernel.is_none());
                assert_eq!(t.filter.as_deref(), Some("crash"));
            }
            other => panic!("{other:?}"),
        }
    }
}
