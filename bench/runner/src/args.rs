//! The runner's command line. clap (derive) parses it: `-h` is the short help, `--help` the
//! complete reference (defaults, timeouts, exit statuses), a typo gets a suggestion, a usage
//! error prints the usage line and exits with status 2. The parsed options then go through the
//! runner's own checks (firmware and boot path, Bochs, `--repeat`, and the kernel command line
//! through the kernel's own parser, before QEMU starts) into [`Cli`]; a failed check is a clap
//! usage error too.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use clap::builder::TypedValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

use crate::bochs::Emulator;
use crate::grub;
use crate::vm::{
    Accel, Boot, Firmware, Machine, VmConfig, check_boot_firmware, check_cmdline_len,
    check_multiboot_firmware, parse_size,
};

pub const DEFAULT_QEMU: &str = "qemu-system-x86_64";

/// `runner --version`: the crate's version and, when built from a git checkout, its revision
/// (set by build.rs).
pub const VERSION: &str = env!("RUNNER_VERSION");

/// Where `runner image` writes the image and `runner usb` reads it.
const DEFAULT_IMAGE: &str = "target/image/kernel.iso";

macro_rules! exit_run {
    () => {
        "    0   pass: QEMU exit 33 and an `end` record with status pass
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
"
    };
}

macro_rules! exit_test {
    () => {
        "    0   every case passed or was skipped
    1   a case failed (or the matrix was stopped)
    2   bad runner command line
    11  setup: a bad or missing ELF, results folder not writable
"
    };
}

macro_rules! exit_kvm_probe {
    () => {
        "    0   KVM usable
    1   not usable
"
    };
}

const EXIT_ALL: &str = concat!(
    "EXIT STATUS (run, linux):\n",
    exit_run!(),
    "EXIT STATUS (test):\n",
    exit_test!(),
    "EXIT STATUS (kvm-probe):\n",
    exit_kvm_probe!(),
    "EXIT STATUS (image, readme, compare):\n",
    "    0   done\n",
    "    2   bad runner command line\n",
    "    11  could not be done (its message says why)\n",
    "EXIT STATUS (usb): 0 written, 1 refused, not confirmed or failed, 2 bad runner command line.\n",
);

/// The top level: `runner COMMAND ...`.
#[derive(Parser, Debug)]
#[command(
    name = "runner",
    version = VERSION,
    about = "Boot the kernel under QEMU, stream its serial console, record its results",
    long_about = "Boot the kernel under QEMU, stream its serial console, record its results.\n\n\
                  `runner COMMAND --help` has a command's options in full (`-h` a summary); \
                  `runner completions bash|zsh|fish` prints a shell completion script.",
    after_help = "`runner COMMAND --help` has a command's options in full; `runner --help` \
                  the exit statuses.",
    after_long_help = EXIT_ALL,
    subcommand_required = true,
    max_term_width = 100,
)]
struct Cmdline {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Boot the kernel, stream its console, record its results (`just run`, `just bench`)
    ///
    /// Runner options go before `--`, kernel command line words after it. Without --results
    /// nothing is written; a benchmark run prints its summary table.
    #[command(
        override_usage = "runner run --kernel <ELF> [OPTIONS] [-- <KERNEL-ARGS>...]\n       \
                          runner run --compare <OLD> <NEW>",
        after_help = "EXIT STATUS: 0 pass, 1 a check failed, 2 bad runner command line, 3..11 \
                      see --help.",
        after_long_help = concat!("EXIT STATUS:\n", exit_run!())
    )]
    Run(RunCmd),
    /// The in-QEMU test matrix (default: the CI set)
    ///
    /// Each case boots the kernel with its own VM and kernel words and checks the outcome,
    /// records and console it expects.
    #[command(
        override_usage = "runner test --kernel <ELF> [OPTIONS]\n       \
                          runner test --list [--all] [--filter <SUBSTR>]",
        after_long_help = concat!("EXIT STATUS:\n", exit_test!())
    )]
    Test(TestCmd),
    /// The Linux baseline: Debian's kernel, the benchmark as /init (`just bench-linux`)
    ///
    /// Debian's pinned stock kernel (apt-get download, sha256 checked, unpacked under
    /// target/linux/) with an initramfs whose /init is PROGRAM, on the same VM options as
    /// `run`. The benchmark words after `--` (and --quick, --bench, ...) are the program's.
    #[command(
        override_usage = "runner linux --init <PROGRAM> [OPTIONS] [-- <KERNEL-ARGS>...]\n       \
                          runner linux --compare <OLD> <NEW>",
        after_help = "EXIT STATUS: as `runner run` (see --help).",
        after_long_help = concat!("EXIT STATUS:\n", exit_run!())
    )]
    Linux(LinuxCmd),
    /// Build the bootable image (hybrid ISO: CD or USB stick, GRUB for BIOS and UEFI)
    ///
    /// The image's menu: the benchmark suite, the quick suite, the self-tests and a typed
    /// command line. Its path is the last line printed (`just image`).
    #[command(
        after_long_help = "EXIT STATUS: 0 built, 2 bad runner command line, 11 could \
                                 not build it (bad ELF, GRUB or xorriso missing or failing)."
    )]
    Image(ImageCmd),
    /// Write the image to a removable drive, after showing it and asking (`just usb /dev/sdX`)
    ///
    /// Shows the drive's model and size and asks for its name to be typed back; refuses a
    /// fixed, mounted or too small drive.
    #[command(
        after_long_help = "EXIT STATUS: 0 written, 1 refused, not confirmed or failed, \
                                 2 bad runner command line."
    )]
    Usb(UsbCmd),
    /// Rewrite README.md's Results block from the committed results folders
    ///
    /// Reads results/{icount,tcg,kvm-software} and the Linux folders results/linux-{icount,tcg}
    /// (with -mitoff: Linux with mitigations=off, when committed). Run from the repository
    /// root (`just readme-results`).
    #[command(
        after_long_help = "EXIT STATUS: 0 rewritten, 2 bad runner command line, 11 a \
                                 folder or README.md could not be read or written."
    )]
    Readme,
    /// Redraw a results folder's figures (SVG and PDF) from its results.csv
    ///
    /// Reads DIR/results.csv and, when present, DIR/samples.csv.gz (not records.jsonl), and
    /// rewrites DIR/plots/: after filtering or editing results.csv, the figures follow. A
    /// results.csv holding several runs is drawn from its first run (a warning says so).
    /// `scripts/plot.py DIR` draws the main figures with matplotlib instead.
    #[command(
        visible_alias = "--plot",
        after_long_help = "EXIT STATUS: 0 redrawn, 2 bad runner command line, 11 the folder \
                           or its results.csv could not be read or written."
    )]
    Plot {
        /// The results folder
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Two benchmark results folders side by side
    ///
    /// NEW/OLD ratios; with repeated runs (`--repeat`), whether a difference is beyond the
    /// spread. When one side is a Linux baseline run: ours against Linux on the metrics both
    /// measure. `runner run --compare OLD NEW` (and `just bench --compare OLD NEW`) does the
    /// same.
    #[command(
        after_long_help = "EXIT STATUS: 0 compared, 2 bad runner command line, 11 a \
                                 folder could not be read."
    )]
    Compare(CompareCmd),
    /// Is KVM usable here, and with which CPU model?
    #[command(after_long_help = concat!("EXIT STATUS:\n", exit_kvm_probe!()))]
    KvmProbe(KvmProbeCmd),
    /// Print a shell completion script to stdout
    ///
    /// bash: `runner completions bash > ~/.local/share/bash-completion/completions/runner`;
    /// zsh: into a directory of $fpath as `_runner`; fish: `~/.config/fish/completions/
    /// runner.fish` (`just completions SHELL`).
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// The accelerator (`--accel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum AccelArg {
    /// KVM when the probe finds it usable and it is not the software backend kvm_pvm, else
    /// TCG with a notice saying why
    Auto,
    /// KVM with the CPU model the probe found working; an unusable KVM is a setup error
    Kvm,
    /// QEMU's emulator, always available; figures are emulation cost
    Tcg,
    /// TCG single-threaded with `-icount shift=0,sleep=off`, deterministic: the guest TSC
    /// counts instructions (records in `cycles` are relabelled `instructions`)
    Icount,
}

impl From<AccelArg> for Accel {
    fn from(a: AccelArg) -> Accel {
        match a {
            AccelArg::Auto => Accel::Auto,
            AccelArg::Kvm => Accel::Kvm,
            AccelArg::Tcg => Accel::Tcg,
            AccelArg::Icount => Accel::Icount,
        }
    }
}

/// The machine type (`--machine`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum MachineArg {
    Q35,
    Pc,
}

impl From<MachineArg> for Machine {
    fn from(m: MachineArg) -> Machine {
        match m {
            MachineArg::Q35 => Machine::Q35,
            MachineArg::Pc => Machine::Pc,
        }
    }
}

/// The emulator (`--emulator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EmulatorArg {
    /// QEMU
    Qemu,
    /// Bochs 2.7, a second, independent x86
    Bochs,
}

impl From<EmulatorArg> for Emulator {
    fn from(e: EmulatorArg) -> Emulator {
        match e {
            EmulatorArg::Qemu => Emulator::Qemu,
            EmulatorArg::Bochs => Emulator::Bochs,
        }
    }
}

/// How the kernel is loaded (`--boot`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BootArg {
    /// QEMU's -kernel loader, Multiboot1
    Kernel,
    /// A GRUB CD image (grub-mkrescue) that boots the kernel with Multiboot2, the kernel
    /// arguments on its multiboot2 line
    Grub,
    /// The bare-metal image of `runner image` as a CD, its benchmark suite entry chosen at once
    Image,
    /// The image's quick suite entry
    #[value(name = "image:quick")]
    ImageQuick,
    /// The image's self-tests entry
    #[value(name = "image:selftests")]
    ImageSelftests,
}

impl From<BootArg> for Boot {
    fn from(b: BootArg) -> Boot {
        match b {
            BootArg::Kernel => Boot::Kernel,
            BootArg::Grub => Boot::Grub,
            BootArg::Image => Boot::Image(grub::Entry::Suite),
            BootArg::ImageQuick => Boot::Image(grub::Entry::Quick),
            BootArg::ImageSelftests => Boot::Image(grub::Entry::Selftests),
        }
    }
}

/// The image's default menu entry (`runner image --default`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EntryArg {
    /// The whole benchmark suite
    Suite,
    /// bench_quick: every kind of workload, fewer samples
    Quick,
    /// test=all
    Selftests,
    /// Asks for a kernel command line on the console
    Custom,
}

impl From<EntryArg> for grub::Entry {
    fn from(e: EntryArg) -> grub::Entry {
        match e {
            EntryArg::Suite => grub::Entry::Suite,
            EntryArg::Quick => grub::Entry::Quick,
            EntryArg::Selftests => grub::Entry::Selftests,
            EntryArg::Custom => grub::Entry::Custom,
        }
    }
}

/// The Linux baseline's CPU vulnerability mitigations (`runner linux --mitigations`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum MitigationsArg {
    /// The kernel's defaults
    Default,
    /// mitigations=off on Linux's command line
    Off,
}

/// The options that shape the VM (`run` and `linux`).
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "VM options")]
struct VmOpts {
    /// Accelerator
    #[arg(long, value_enum, value_name = "ACCEL", default_value_t = AccelArg::Auto)]
    accel: AccelArg,
    /// Machine type
    #[arg(long, value_enum, value_name = "MACHINE", default_value_t = MachineArg::Q35)]
    machine: MachineArg,
    /// CPU model (default: KVM the probe's, TCG max, icount max,-x2apic)
    ///
    /// Default: under KVM the model the probe found working (host,+invtsc or
    /// host,-arch-capabilities,+invtsc); TCG max; icount max,-x2apic (QEMU's icount cannot run
    /// the x2APIC timer). With --emulator bochs a Bochs model (`bochs --help cpu`, default
    /// corei7_skylake_x).
    #[arg(long, value_name = "MODEL")]
    cpu: Option<String>,
    /// CPUs, 1 to 4096 (default: the host's CPU count, at least 2, at most 8)
    ///
    /// At most 8 by default: a vCPU waiting for a host core makes cross-CPU figures measure the
    /// host's scheduler.
    #[arg(long, value_name = "N", value_parser = parse_smp)]
    smp: Option<u32>,
    /// Guest memory, e.g. 128M, 1G, 5G
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_memory)]
    memory: u64,
    /// Firmware: qboot (the default), seabios, ovmf (UEFI) or a file PATH
    ///
    /// qboot is fast; seabios is QEMU's own default BIOS; ovmf is UEFI (Debian's ovmf
    /// package), for --boot image only (the kernel and grub boots are BIOS-only and are refused
    /// with it). From a CD (--boot grub or image) the default is seabios (qboot cannot boot a
    /// CD).
    #[arg(long, value_name = "FIRMWARE", value_parser = FirmwareParser)]
    firmware: Option<Firmware>,
    /// How the kernel is loaded
    ///
    /// grub: the GRUB CD (scripts/setup.sh installs grub-mkrescue)
    /// takes the kernel arguments on its multiboot2 line as plain words (no quotes, `;`, `$`,
    /// newlines, ...); image: the bare-metal image's menu entry, chosen at once (no kernel
    /// arguments).
    #[arg(long, value_enum, value_name = "BOOT", default_value_t = BootArg::Kernel)]
    boot: BootArg,
    /// Kill QEMU after SECS (default: grows with the CPU count; benchmarks 900 s/3600 s)
    ///
    /// The records received so far are kept and the run is marked incomplete. Default: TCG 30 s + 0.5 s/CPU, icount twice that, KVM 20 s + 0.2 s/CPU,
    /// Bochs 120 s + 30 s/CPU; a benchmark run (no test=, help or crash= word) gets 900 s with
    /// --quick, else 3600 s (twice that in icount mode, four times on a software KVM backend).
    #[arg(
        long,
        value_name = "SECS",
        value_parser = parse_timeout,
        allow_negative_numbers = true
    )]
    timeout: Option<f64>,
}

/// Benchmark shorthands (`run` and `linux`): each becomes a kernel command line word.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Benchmark options (kernel words)")]
struct BenchOpts {
    /// The quick suite: every workload, fewer samples (kernel bench_quick)
    #[arg(long)]
    quick: bool,
    /// Benchmark groups: all or a comma list (kernel bench=)
    ///
    /// The groups: floors, pf, pf_throughput, pf_contention, shootdown,
    /// shootdown_phases, shootdown_topology, shootdown_concurrent, shootdown_oracle (kernel
    /// bench=; the Linux baseline has floors, pf, pf_throughput and shootdown).
    #[arg(long, value_name = "LIST")]
    bench: Option<String>,
    /// Samples per benchmark (kernel bench_samples=)
    #[arg(long, value_name = "N")]
    samples: Option<String>,
    /// Warm-up iterations (kernel bench_warmup=)
    #[arg(long, value_name = "N")]
    warmup: Option<String>,
    /// CPUs the benchmarks use (kernel bench_cpus=)
    #[arg(long = "bench-cpus", value_name = "N")]
    bench_cpus: Option<String>,
}

/// What `run` and `linux` share besides the VM: results, repetition, QEMU, kernel words.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Run options")]
struct RunOpts {
    /// Write console.log, records.jsonl, host.json (and a benchmark's summary) into DIR
    ///
    /// A benchmark run adds summary.md, csv/ and plots/. A folder holds one run: what an earlier run wrote there
    /// (summary.md, csv/, plots/, boot-N/, ...) is removed first, and a folder another runner
    /// is using is refused (lock file DIR/.lock).
    #[arg(long, value_name = "DIR")]
    results: Option<PathBuf>,
    /// Boot K times (1..100), each boot's results in DIR/boot-N, then the spread across boots
    ///
    /// Needs --results DIR. The spread: median and range of the per-boot p50s.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = parse_repeat)]
    repeat: u32,
    /// No run: two results folders side by side (as `runner compare`)
    ///
    /// `just bench --compare OLD NEW`; the other options are then ignored.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"])]
    compare: Option<Vec<PathBuf>>,
    /// Do not stream the console; show each benchmark group and each result (n/m, elapsed,
    /// time left)
    ///
    /// m and the time left come from the last complete run of the same configuration
    /// (accelerator, CPUs, memory, kernel words), kept in target/progress/: absent the first
    /// time, exact in count for the deterministic mode.
    #[arg(long)]
    quiet: bool,
    /// QEMU binary
    #[arg(long, value_name = "PATH", default_value = DEFAULT_QEMU)]
    qemu: String,
    /// Extra QEMU argument, repeatable (`--qemu-arg -s`)
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    qemu_args: Vec<String>,
    #[command(flatten)]
    bench: BenchOpts,
    /// Kernel command line words (key=value), joined by spaces into -append; at most 1024
    /// bytes in all
    ///
    /// With --boot grub they go into grub.cfg. The kernel's own parser checks them before QEMU
    /// starts (a bad word is refused with the list of valid ones).
    #[arg(last = true, value_name = "KERNEL-ARGS", help_heading = "Arguments")]
    kernel_args: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct RunCmd {
    /// The kernel (ELF64 x86-64; `just kernel` prints its path)
    #[arg(long, value_name = "ELF", required_unless_present = "compare")]
    kernel: Option<PathBuf>,
    /// Emulator
    ///
    /// bochs: Bochs 2.7 (package bochs, with bochsbios and vgabios) boots a BIOS
    /// GRUB image of the kernel with exit=halt, the run ends at the `end` record; it takes
    /// --cpu MODEL (`bochs --help cpu`, default corei7_skylake_x), --smp, --memory and
    /// --timeout (default 120 s + 30 s/CPU); bochsrc and bochs.log are kept in --results.
    #[arg(long, value_enum, value_name = "EMULATOR", default_value_t = EmulatorArg::Qemu)]
    emulator: EmulatorArg,
    #[command(flatten)]
    vm: VmOpts,
    #[command(flatten)]
    run: RunOpts,
}

#[derive(clap::Args, Debug)]
struct LinuxCmd {
    /// The static benchmark program that becomes /init (`just bench-linux` builds it)
    #[arg(long, value_name = "PROGRAM", required_unless_present = "compare")]
    init: Option<PathBuf>,
    /// A kernel package to use instead of downloading the pinned one
    #[arg(long = "linux-deb", value_name = "DEB")]
    linux_deb: Option<PathBuf>,
    /// Linux's CPU vulnerability mitigations
    #[arg(long, value_enum, value_name = "MODE", default_value_t = MitigationsArg::Default)]
    mitigations: MitigationsArg,
    /// Unused: the baseline boots Debian's kernel (accepted as with `run`).
    #[arg(long, value_name = "ELF", hide = true)]
    kernel: Option<PathBuf>,
    #[command(flatten)]
    vm: VmOpts,
    #[command(flatten)]
    run: RunOpts,
}

#[derive(clap::Args, Debug)]
struct TestCmd {
    /// The kernel (ELF64 x86-64; `just kernel` prints its path)
    #[arg(long, value_name = "ELF", required_unless_present = "list")]
    kernel: Option<PathBuf>,
    /// The full matrix (default: the CI set)
    #[arg(long)]
    all: bool,
    /// Only cases whose name contains SUBSTR
    #[arg(long, value_name = "SUBSTR")]
    filter: Option<String>,
    /// List the cases and exit
    #[arg(long)]
    list: bool,
    /// Stream each case's console
    #[arg(long)]
    verbose: bool,
    /// Where each case's results folder goes (default target/test-runs)
    ///
    /// target/test-runs is under the cargo target directory; a case writes
    /// DIR/<case>/{console.log,records.jsonl,host.json}.
    #[arg(long, value_name = "DIR")]
    results: Option<PathBuf>,
    /// QEMU binary
    #[arg(long, value_name = "PATH", default_value = DEFAULT_QEMU)]
    qemu: String,
}

#[derive(clap::Args, Debug)]
struct ImageCmd {
    /// The kernel (ELF64 x86-64; `just kernel` prints its path)
    #[arg(long, value_name = "ELF")]
    kernel: PathBuf,
    /// Where the image goes
    #[arg(long, value_name = "ISO", default_value = DEFAULT_IMAGE)]
    out: PathBuf,
    /// The menu entry booted when the menu times out
    #[arg(long, value_enum, value_name = "ENTRY", default_value_t = EntryArg::Suite)]
    default: EntryArg,
    /// Seconds the menu waits (0 to 3600)
    #[arg(long = "menu-timeout", value_name = "SECS", default_value_t = 10, value_parser = parse_menu_timeout)]
    menu_timeout: u32,
}

#[derive(clap::Args, Debug)]
struct UsbCmd {
    /// The whole drive, e.g. /dev/sdX
    #[arg(value_name = "DEVICE")]
    device: String,
    /// The image to write
    #[arg(long, value_name = "ISO", default_value = DEFAULT_IMAGE)]
    image: PathBuf,
    /// Do not ask for the drive's name (the checks still refuse a fixed, mounted or too small
    /// drive)
    #[arg(long)]
    yes: bool,
}

#[derive(clap::Args, Debug)]
struct CompareCmd {
    /// The older results folder
    #[arg(value_name = "OLD")]
    old: PathBuf,
    /// The newer results folder
    #[arg(value_name = "NEW")]
    new: PathBuf,
    /// Print the comparison as JSON (both p50s, NEW/OLD, spreads and a verdict name per
    /// row) instead of a Markdown table
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct KvmProbeCmd {
    /// QEMU binary
    #[arg(long, value_name = "PATH", default_value = DEFAULT_QEMU)]
    qemu: String,
}

fn parse_smp(v: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(n),
        _ => Err("expected a CPU count from 1 to 4096".into()),
    }
}

fn parse_memory(v: &str) -> Result<u64, String> {
    parse_size(v)
}

fn parse_timeout(v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(t) if t > 0.0 && t.is_finite() => Ok(t),
        _ => Err("expected a positive number of seconds".into()),
    }
}

fn parse_repeat(v: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => Err("expected a boot count from 1 to 100".into()),
    }
}

fn parse_menu_timeout(v: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if n <= 3600 => Ok(n),
        _ => Err("expected seconds from 0 to 3600".into()),
    }
}

/// `--firmware`: a name (seabios, qboot, ovmf) or a file path. A value that is neither a name
/// nor an existing file, has no `/` and is a near miss of a name (`seabio`) is refused with
/// that name as the suggestion, as clap does for a value enum; any other value is a path (its
/// existence is checked when the run starts).
#[derive(Clone, Debug)]
struct FirmwareParser;

const FIRMWARE_NAMES: [&str; 3] = ["seabios", "qboot", "ovmf"];

impl TypedValueParser for FirmwareParser {
    type Value = Firmware;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Firmware, clap::Error> {
        let v = value.to_string_lossy();
        let suggestion = if v.contains('/') || Path::new(&*v).exists() {
            None
        } else {
            FIRMWARE_NAMES
                .into_iter()
                .filter(|n| *n != v)
                .find(|n| edit_distance(&v.to_ascii_lowercase(), n) <= 2)
        };
        if !v.is_empty() && suggestion.is_none() {
            return Ok(Firmware::parse(&v));
        }
        let mut e = clap::Error::new(ErrorKind::InvalidValue).with_cmd(cmd);
        let name = arg.map_or_else(|| "--firmware".to_string(), ToString::to_string);
        e.insert(ContextKind::InvalidArg, ContextValue::String(name));
        e.insert(ContextKind::InvalidValue, ContextValue::String(v.into()));
        let valid = FIRMWARE_NAMES.iter().map(|n| n.to_string());
        e.insert(
            ContextKind::ValidValue,
            ContextValue::Strings(valid.chain(["PATH".to_string()]).collect()),
        );
        if let Some(s) = suggestion {
            e.insert(ContextKind::SuggestedValue, ContextValue::String(s.into()));
        }
        Err(e)
    }
}

/// Levenshtein distance (the firmware names are short: a plain table).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur.push(subst.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

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
    Run(RunArgs),
    Test(TestArgs),
    KvmProbe {
        qemu: String,
    },
    /// Regenerate README.md's Results block from the committed results folders.
    Readme,
    /// Redraw a folder's figures from its results.csv.
    Plot(PathBuf),
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
        /// JSON instead of Markdown.
        json: bool,
    },
    /// Print a shell completion script ([`completions`]).
    Completions(Shell),
}

/// A check of the parsed options failed (its message); [`parse`] turns it into a clap usage
/// error of the subcommand.
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

/// The command line's definition (help, usage, completions).
pub fn command() -> clap::Command {
    // A later option replaces an earlier one (`just bench` passes --results, and the user may
    // pass another); repeatable options (--qemu-arg) still add up.
    Cmdline::command().mut_subcommands(|s| s.args_override_self(true))
}

/// Parses the arguments after the program name. `Err` is a clap error to print and exit with
/// ([`report`]): a usage error, or the help or version asked for.
pub fn parse(args: &[String]) -> Result<Cli, clap::Error> {
    let mut cmd = command();
    let argv = std::iter::once("runner").chain(args.iter().map(String::as_str));
    let matches = match cmd.try_get_matches_from_mut(argv) {
        Ok(m) => m,
        Err(e) => return Err(kernel_words_hint(e, &mut cmd, args)),
    };
    let parsed = Cmdline::from_arg_matches(&matches).map_err(|e| e.with_cmd(&cmd))?;
    let sub = matches.subcommand_name().unwrap_or_default().to_string();
    into_cli(parsed.command).map_err(|UsageError(msg)| usage_error(&mut cmd, &sub, msg))
}

/// A usage error of subcommand `sub` (its usage line under the message, as clap's own errors).
fn usage_error(cmd: &mut clap::Command, sub: &str, msg: String) -> clap::Error {
    cmd.build();
    match cmd.find_subcommand_mut(sub) {
        Some(s) => s.error(ErrorKind::ValueValidation, msg),
        None => cmd.error(ErrorKind::ValueValidation, msg),
    }
}

/// `run` and `linux` take kernel words after `--`: a bare word before it (`runner run --kernel
/// k test=all`) is refused with that hint, and an unknown option is not suggested to be passed
/// after `--` (clap's generic tip: it would become a kernel word).
fn kernel_words_hint(mut e: clap::Error, cmd: &mut clap::Command, args: &[String]) -> clap::Error {
    let sub = args.first().map(String::as_str).unwrap_or_default();
    if e.kind() != ErrorKind::UnknownArgument || !matches!(sub, "run" | "linux") {
        return e;
    }
    match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(word)) if !word.starts_with('-') => {
            let msg = format!(
                "unexpected argument '{word}': kernel arguments go after `--` (runner {sub} \
                 [OPTIONS] -- {word})"
            );
            usage_error(cmd, sub, msg)
        }
        _ => {
            if let Some(ContextValue::StyledStrs(tips)) = e.get(ContextKind::Suggested) {
                let tips: Vec<_> = tips
                    .iter()
                    .filter(|t| !t.to_string().starts_with("to pass"))
                    .cloned()
                    .collect();
                let tips = if tips.is_empty() {
                    ContextValue::None
                } else {
                    ContextValue::StyledStrs(tips)
                };
                e.insert(ContextKind::Suggested, tips);
            }
            e
        }
    }
}

/// Prints a [`parse`] error: the help or version to stdout (a closed stdout is no error), a
/// usage error with its usage line to stderr. Returns the exit status: 0 for the help and the
/// version, 2 ([`crate::outcome::exit::USAGE`]) for a usage error.
pub fn report(e: &clap::Error) -> i32 {
    let _ = e.print();
    if e.use_stderr() {
        crate::outcome::exit::USAGE
    } else {
        crate::outcome::exit::PASS
    }
}

/// The completion script of `shell` for the runner's command line.
pub fn completions(shell: Shell) -> String {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut command(), "runner", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn into_cli(c: Command) -> Result<Cli, UsageError> {
    Ok(match c {
        Command::Run(r) => run_args(r.kernel, r.emulator.into(), None, r.vm, r.run)?,
        Command::Linux(l) => {
            let linux = l.init.map(|init| LinuxArgs {
                init,
                deb: l.linux_deb,
                mitigations_off: l.mitigations == MitigationsArg::Off,
            });
            let kernel = Some(l.kernel.unwrap_or_default());
            // Without --init, clap made sure of --compare.
            run_args(kernel, Emulator::Qemu, linux, l.vm, l.run)?
        }
        Command::Test(t) => Cli::Test(TestArgs {
            kernel: t.kernel,
            all: t.all,
            filter: t.filter,
            list: t.list,
            verbose: t.verbose,
            results: t.results,
            qemu: t.qemu,
        }),
        Command::Image(i) => Cli::Image(ImageArgs {
            kernel: i.kernel,
            out: i.out,
            default: i.default.into(),
            menu_timeout: i.menu_timeout,
        }),
        Command::Usb(u) => Cli::Usb {
            device: u.device,
            image: u.image,
            yes: u.yes,
        },
        Command::Readme => Cli::Readme,
        Command::Plot { dir } => Cli::Plot(dir),
        Command::Compare(c) => Cli::Compare {
            old: c.old,
            new: c.new,
            json: c.json,
        },
        Command::KvmProbe(k) => Cli::KvmProbe { qemu: k.qemu },
        Command::Completions { shell } => Cli::Completions(shell),
    })
}

/// `run` and `linux` (`linux` is Some): the VM and the kernel words, checked.
fn run_args(
    kernel: Option<PathBuf>,
    emulator: Emulator,
    linux: Option<LinuxArgs>,
    v: VmOpts,
    o: RunOpts,
) -> Result<Cli, UsageError> {
    if let Some([old, new]) = o.compare.as_deref() {
        return Ok(Cli::Compare {
            old: old.clone(),
            new: new.clone(),
            json: false,
        });
    }
    let linux_mode = linux.is_some();
    // clap requires --kernel (run) or --init (linux) unless --compare is given.
    let Some(kernel) = kernel else {
        return err("run needs --kernel ELF");
    };
    if o.repeat > 1 && o.results.is_none() {
        return err("--repeat needs --results DIR (each boot writes DIR/boot-N)");
    }
    let mut vm = VmConfig {
        accel: v.accel.into(),
        machine: v.machine.into(),
        cpu: v.cpu,
        smp: v.smp.unwrap_or(VmConfig::default().smp),
        memory: v.memory,
        firmware: v.firmware.clone().unwrap_or(Firmware::Qboot),
        boot: v.boot.into(),
        timeout: v.timeout,
    };
    let firmware_given = v.firmware.is_some();
    // Benchmark shorthands: each becomes a kernel argument, before the words after `--`.
    let b = o.bench;
    let mut kernel_args: Vec<String> = Vec::new();
    if b.quick {
        kernel_args.push("bench_quick".to_string());
    }
    for (key, value) in [
        ("bench", b.bench),
        ("bench_samples", b.samples),
        ("bench_warmup", b.warmup),
        ("bench_cpus", b.bench_cpus),
    ] {
        if let Some(value) = value {
            kernel_args.push(format!("{key}={value}"));
        }
    }
    kernel_args.extend(o.kernel_args);
    if emulator == Emulator::Bochs {
        check_bochs(&vm, firmware_given, &o.qemu, &o.qemu_args, &kernel_args)?;
    }
    check_boot(&mut vm, firmware_given, &kernel_args)?;
    check_kernel_line(&kernel_args, linux_mode, &vm)?;
    Ok(Cli::Run(RunArgs {
        kernel,
        vm,
        smp_given: v.smp.is_some(),
        results: o.results,
        repeat: o.repeat,
        quiet: o.quiet,
        qemu: o.qemu,
        qemu_args: o.qemu_args,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::exit;

    /// The command line `s` (split at spaces); an error as its rendered text (plain, no
    /// colours).
    fn p(s: &str) -> Result<Cli, String> {
        let v: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        parse(&v).map_err(|e| e.to_string())
    }

    /// The clap error of `s`: what [`report`] would print, and its kind.
    fn clap_err(s: &str) -> clap::Error {
        let v: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        match parse(&v) {
            Err(e) => e,
            Ok(c) => panic!("{s}: expected an error, got {c:?}"),
        }
    }

    fn run(s: &str) -> RunArgs {
        match p(s) {
            Ok(Cli::Run(r)) => r,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn usage_err(s: &str) -> String {
        let e = clap_err(s);
        assert_eq!(report_code(&e), exit::USAGE, "{s}: {e}");
        e.to_string()
    }

    /// The exit status [`report`] gives, without printing.
    fn report_code(e: &clap::Error) -> i32 {
        if e.use_stderr() {
            exit::USAGE
        } else {
            exit::PASS
        }
    }

    /// `parse` of words that cannot come through `split_whitespace`.
    fn parse_words(words: &[String]) -> Result<Cli, String> {
        parse(words).map_err(|e| e.to_string())
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
        match parse_words(&words) {
            Err(e) => assert!(e.contains("control character '\\n'"), "{e}"),
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
                new: "b".into(),
                json: false
            })
        );
        let e = usage_err("run --kernel k --compare a");
        assert!(
            e.contains("2 values required for '--compare <OLD> <NEW>'"),
            "{e}"
        );
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
        let e = usage_err("run --kernel k --quiet=yes");
        assert!(e.contains("unexpected value 'yes' for '--quiet'"), "{e}");
        let e = usage_err("run --kernel");
        assert!(
            e.contains("a value is required for '--kernel <ELF>'"),
            "{e}"
        );
        assert!(usage_err("run --kernel k test=all").contains("after `--`"));
        assert!(usage_err("run --accel tcg").contains("--kernel"));
        assert!(usage_err("fly").contains("'fly'"));
        // No subcommand: the short help, as a usage error.
        let e = clap_err("");
        assert_eq!(report_code(&e), exit::USAGE);
        assert!(e.to_string().contains("Commands:"), "{e}");
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
        let e = parse_words(&at).unwrap_err();
        assert!(e.contains("bad kernel command line"), "{e}");
        let over = vec![
            "run".into(),
            "--kernel".into(),
            "k".into(),
            "--".into(),
            word(max - 4),
        ];
        let e = parse_words(&over).unwrap_err();
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
        assert!(
            parse_words(&names(100))
                .unwrap_err()
                .contains("at most 1024")
        );
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
        for help in ["--help", "-h", "help", "run --help", "help run"] {
            let e = clap_err(help);
            assert_eq!(e.kind(), ErrorKind::DisplayHelp, "{help}");
            assert_eq!(report_code(&e), exit::PASS);
        }
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
                new: "b".into(),
                json: false
            })
        );
        assert!(p("compare a").is_err());
        assert_eq!(
            p("compare --json a b"),
            Ok(Cli::Compare {
                old: "a".into(),
                new: "b".into(),
                json: true
            })
        );
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

    #[test]
    fn the_command_line_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn typos_get_a_suggestion() {
        let e = clap_err("run --kernel k --accel kvmm");
        assert_eq!(e.kind(), ErrorKind::InvalidValue);
        let t = e.to_string();
        assert!(
            t.contains("invalid value 'kvmm' for '--accel <ACCEL>'"),
            "{t}"
        );
        assert!(t.contains("tip: a similar value exists: 'kvm'"), "{t}");
        let t = usage_err("run --kernel k --machine pcc");
        assert!(t.contains("a similar value exists: 'pc'"), "{t}");
        let t = usage_err("run --kernel k --boot image:quik");
        assert!(t.contains("'image:quick'"), "{t}");
        let t = usage_err("run --kernel k --emulator boch");
        assert!(t.contains("'bochs'"), "{t}");
        let t = usage_err("image --kernel k --default quik");
        assert!(t.contains("'quick'"), "{t}");
        let t = usage_err("linux --init i --mitigations of");
        assert!(t.contains("'off'"), "{t}");
        // --firmware takes a name or a path: a near miss of a name is refused with the name...
        let t = usage_err("run --kernel k --firmware seabio");
        assert!(t.contains("tip: a similar value exists: 'seabios'"), "{t}");
        assert!(t.contains("PATH"), "{t}");
        assert!(usage_err("run --kernel k --firmware OVMF").contains("'ovmf'"));
        // ... anything else is a path.
        assert_eq!(
            run("run --kernel k --firmware ./seabio").vm.firmware,
            Firmware::Path("./seabio".into())
        );
        assert_eq!(
            run("run --kernel k --firmware bios.bin").vm.firmware,
            Firmware::Path("bios.bin".into())
        );
        // Options and subcommands.
        let t = usage_err("run --kernel k --acel tcg");
        assert!(
            t.contains("tip: a similar argument exists: '--accel'"),
            "{t}"
        );
        assert!(
            !t.contains("to pass"),
            "no `-- --acel` tip: it would be a kernel word: {t}"
        );
        let t = usage_err("tset --list");
        assert!(
            t.contains("tip: a similar subcommand exists: 'test'"),
            "{t}"
        );
        let t = usage_err("kvm-prob");
        assert!(t.contains("'kvm-probe'"), "{t}");
    }

    #[test]
    fn a_usage_error_is_short() {
        for line in [
            "run --kernel k --accel kvmm",
            "run --kernel k --bogus",
            "run --kernel k test=all",
            "run --kernel k --boot grub --firmware qboot",
            "test --kernel k --fast",
            "compare a",
            "fly",
        ] {
            let t = usage_err(line);
            assert!(t.starts_with("error: "), "{line}: {t}");
            // The usage line (clap leaves it out under a bad value), never the whole help.
            assert!(
                t.contains("For more information, try '--help'"),
                "{line}: {t}"
            );
            assert!(!t.contains("Options:"), "{line}: {t}");
            assert!(
                t.lines().count() < 15,
                "{line}: {} lines: {t}",
                t.lines().count()
            );
        }
        let t = usage_err("linux --init i test=all");
        assert!(
            t.contains("after `--`") && t.contains("runner linux"),
            "{t}"
        );
    }

    #[test]
    fn help_and_version() {
        let e = clap_err("--version");
        assert_eq!(e.kind(), ErrorKind::DisplayVersion);
        assert_eq!(report_code(&e), exit::PASS);
        let v = e.to_string();
        assert!(
            v.starts_with(&format!("runner {}", env!("CARGO_PKG_VERSION"))),
            "{v}"
        );
        assert_eq!(v.trim_end(), format!("runner {VERSION}"));
        // --help: the complete reference, with the exit statuses; -h: a summary.
        let long = clap_err("--help").to_string();
        assert!(long.contains("EXIT STATUS (run, linux):"), "{long}");
        assert!(long.contains("11  could not start"), "{long}");
        assert!(long.contains("runner completions"), "{long}");
        let short = clap_err("-h").to_string();
        assert!(!short.contains("11  could not start"), "{short}");
        assert!(short.lines().count() < long.lines().count());
        // Every subcommand has its help, short and long.
        let names: Vec<String> = command()
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        for name in [
            "run",
            "test",
            "linux",
            "image",
            "usb",
            "readme",
            "plot",
            "compare",
            "kvm-probe",
            "completions",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
            for flag in ["--help", "-h"] {
                let e = clap_err(&format!("{name} {flag}"));
                assert_eq!(e.kind(), ErrorKind::DisplayHelp, "{name} {flag}");
                assert_eq!(report_code(&e), exit::PASS);
                let t = e.to_string();
                assert!(t.contains(&format!("runner {name}")), "{name} {flag}: {t}");
            }
        }
        // Words, whatever the wrapping.
        let flat = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        let run_long = flat(&clap_err("run --help").to_string());
        for text in [
            "EXIT STATUS:",
            "7 timeout: QEMU killed at the deadline",
            "TCG 30 s + 0.5 s/CPU",
            "lock file DIR/.lock",
            "[default: auto]",
            "- icount:",
            "at most 1024",
        ] {
            assert!(run_long.contains(text), "{text}: {run_long}");
        }
        let test_long = clap_err("test --help").to_string();
        assert!(test_long.contains("a case failed"), "{test_long}");
    }

    #[test]
    fn completions_are_scripts_for_the_runner() {
        assert_eq!(p("completions bash"), Ok(Cli::Completions(Shell::Bash)));
        assert!(usage_err("completions tcsh").contains("'tcsh'"));
        let bash = completions(Shell::Bash);
        assert!(
            bash.contains("_runner()") && bash.contains("complete -F _runner"),
            "{bash}"
        );
        assert!(bash.contains("--accel") && bash.contains("kvm-probe"));
        assert!(completions(Shell::Zsh).contains("#compdef runner"));
        assert!(completions(Shell::Fish).contains("complete -c runner"));
    }

    #[test]
    fn a_later_option_replaces_an_earlier_one() {
        // `just bench` passes --results results/latest --quiet; the user may pass them again.
        let r =
            run("run --kernel k --results a --quiet --results b --quiet --accel tcg --accel kvm");
        assert_eq!(r.results, Some(PathBuf::from("b")));
        assert_eq!(r.vm.accel, Accel::Kvm);
        assert!(r.quiet);
        assert_eq!(
            run("run --kernel k --qemu-arg -s --qemu-arg -S").qemu_args,
            ["-s", "-S"]
        );
    }

    #[test]
    fn near_names_by_edit_distance() {
        assert_eq!(edit_distance("seabio", "seabios"), 1);
        assert_eq!(edit_distance("qbot", "qboot"), 1);
        assert_eq!(edit_distance("ovfm", "ovmf"), 2);
        assert_eq!(edit_distance("", "ovmf"), 4);
        assert!(edit_distance("bios.bin", "seabios") > 2);
    }
}
