//! The virtual machine a run boots: accelerator, machine, CPU, memory, firmware, boot path,
//! timeout, and the QEMU command line built from them.

use std::fmt;
use std::path::{Path, PathBuf};

/// The accelerator asked for on the command line (`auto` is resolved by the KVM probe).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Auto,
    Kvm,
    Tcg,
    /// TCG, one thread, `-icount shift=0,sleep=off`: the guest TSC counts instructions.
    Icount,
}

impl Accel {
    pub fn parse(s: &str) -> Option<Accel> {
        match s {
            "auto" => Some(Accel::Auto),
            "kvm" => Some(Accel::Kvm),
            "tcg" => Some(Accel::Tcg),
            "icount" => Some(Accel::Icount),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Accel::Auto => "auto",
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
            Accel::Icount => "icount",
        }
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    Q35,
    Pc,
}

impl Machine {
    pub fn parse(s: &str) -> Option<Machine> {
        match s {
            "q35" => Some(Machine::Q35),
            "pc" => Some(Machine::Pc),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Machine::Q35 => "q35",
            Machine::Pc => "pc",
        }
    }
}

/// Known locations of qboot, first match wins.
/// OVMF images usable with `-bios` (code and variables in one file).
pub const OVMF_PATHS: &[&str] = &["/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd"];

pub const QBOOT_PATHS: &[&str] = &[
    "/usr/share/qemu/qboot.rom",
    "/usr/local/share/qemu/qboot.rom",
    "/usr/share/qboot/bios.bin",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// QEMU's default BIOS: no `-bios` option.
    SeaBios,
    Qboot,
    /// UEFI: OVMF from Debian's `ovmf` package.
    Ovmf,
    Path(PathBuf),
}

impl Firmware {
    pub fn parse(s: &str) -> Firmware {
        match s {
            "seabios" => Firmware::SeaBios,
            "qboot" => Firmware::Qboot,
            "ovmf" => Firmware::Ovmf,
            p => Firmware::Path(PathBuf::from(p)),
        }
    }
    /// The short name used in case names and host.json.
    pub fn name(&self) -> String {
        match self {
            Firmware::SeaBios => "seabios".into(),
            Firmware::Qboot => "qboot".into(),
            Firmware::Ovmf => "ovmf".into(),
            Firmware::Path(p) => p.display().to_string(),
        }
    }
    /// Whether this is UEFI firmware: `ovmf`, or a file that starts with a UEFI firmware volume
    /// (the `_FVH` signature at offset 0x28 of its header, as OVMF.fd and OVMF_CODE.fd do).
    pub fn is_uefi(&self) -> bool {
        match self {
            Firmware::Ovmf => true,
            Firmware::SeaBios | Firmware::Qboot => false,
            Firmware::Path(p) => {
                use std::io::Read;
                let mut head = [0u8; 0x2c];
                std::fs::File::open(p)
                    .and_then(|mut f| f.read_exact(&mut head))
                    .is_ok_and(|()| &head[0x28..0x2c] == b"_FVH")
            }
        }
    }

    /// The file to pass with `-bios`, checked to exist (None = QEMU's default SeaBIOS).
    pub fn bios_file(&self) -> Result<Option<PathBuf>, String> {
        match self {
            Firmware::SeaBios => Ok(None),
            Firmware::Qboot => QBOOT_PATHS
                .iter()
                .map(Path::new)
                .find(|p| p.is_file())
                .map(|p| Some(p.to_path_buf()))
                .ok_or_else(|| {
                    format!(
                        "qboot firmware not found (looked in {}); install QEMU's data files \
                         (Debian: qemu-system-data) or pass --firmware PATH",
                        QBOOT_PATHS.join(", ")
                    )
                }),
            Firmware::Ovmf => OVMF_PATHS
                .iter()
                .map(Path::new)
                .find(|p| p.is_file())
                .map(|p| Some(p.to_path_buf()))
                .ok_or_else(|| {
                    format!(
                        "OVMF firmware not found (looked in {}); scripts/setup.sh installs it \
                         (Debian: ovmf) or pass --firmware PATH",
                        OVMF_PATHS.join(", ")
                    )
                }),
            Firmware::Path(p) => {
                if p.is_file() {
                    Ok(Some(p.clone()))
                } else {
                    Err(format!("firmware file '{}' does not exist", p.display()))
                }
            }
        }
    }
}

/// How the kernel is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    /// QEMU's `-kernel` loader: Multiboot1, the command line through `-append`.
    Kernel,
    /// GRUB from a CD image (`-cdrom`): Multiboot2, the command line in grub.cfg.
    Grub,
    /// The bootable image of `just image` (hybrid ISO, GRUB for BIOS and UEFI, its menu) as a
    /// CD, with this entry chosen at once: what a bare-metal machine boots.
    Image(crate::grub::Entry),
}

impl Boot {
    /// `kernel`, `grub`, `image` (the suite entry) or `image:ENTRY`.
    pub fn parse(s: &str) -> Option<Boot> {
        match s {
            "kernel" => Some(Boot::Kernel),
            "grub" => Some(Boot::Grub),
            "image" => Some(Boot::Image(crate::grub::Entry::Suite)),
            _ => s
                .strip_prefix("image:")
                .and_then(crate::grub::Entry::parse)
                .filter(|e| *e != crate::grub::Entry::Custom)
                .map(Boot::Image),
        }
    }
    pub fn name(self) -> String {
        match self {
            Boot::Kernel => "kernel".into(),
            Boot::Grub => "grub".into(),
            Boot::Image(e) => format!("image:{}", e.name()),
        }
    }
    /// Boots from a CD image.
    pub fn is_cd(self) -> bool {
        !matches!(self, Boot::Kernel)
    }
}

/// Refuses a firmware that cannot take the boot path: qboot boots `-kernel` only, not a CD.
pub fn check_boot_firmware(boot: Boot, firmware: &Firmware) -> Result<(), String> {
    match (boot, firmware) {
        (b, Firmware::Qboot) if b.is_cd() => Err(format!(
            "qboot cannot boot from a CD, so --boot {} cannot use --firmware qboot; use \
             --firmware seabios (the default with a CD) or ovmf",
            b.name()
        )),
        _ => Ok(()),
    }
}

/// Refuses a UEFI firmware with a boot path our Multiboot kernel cannot take under UEFI: QEMU's
/// `-kernel` loader is Multiboot1 for BIOS only (OVMF lands in its shell), and the `--boot grub`
/// CD is built with GRUB's BIOS (i386-pc) modules only (OVMF finds nothing to boot). Either
/// run would only end at its timeout. The bare-metal image (`--boot image`) has both.
pub fn check_multiboot_firmware(boot: Boot, firmware: &Firmware) -> Result<(), String> {
    if !firmware.is_uefi() {
        return Ok(());
    }
    let fw = firmware.name();
    match boot {
        Boot::Kernel => Err(format!(
            "--firmware {fw} is UEFI, and QEMU's -kernel loader (--boot kernel, the default) \
             boots Multiboot kernels under a BIOS only: OVMF would stop in its shell until the \
             timeout. Use --boot image (the bare-metal image, GRUB for BIOS and UEFI) with UEFI, \
             or --firmware qboot or seabios"
        )),
        Boot::Grub => Err(format!(
            "--firmware {fw} is UEFI, and the --boot grub CD holds GRUB for BIOS only (i386-pc): \
             OVMF would find nothing to boot until the timeout. Use --boot image (GRUB for BIOS \
             and UEFI; its menu entries, no kernel arguments) with UEFI, or --firmware seabios \
             with --boot grub"
        )),
        Boot::Image(_) => Ok(()),
    }
}

/// Refuses a kernel command line (the words joined by spaces, as QEMU's `-append` and grub.cfg
/// pass it) longer than the kernel takes: it would stop at boot with "the command line is
/// longer than ... bytes".
pub fn check_cmdline_len(words: &[String]) -> Result<(), String> {
    const MAX: usize = kernel_core::bootinfo::CMDLINE_MAX;
    let len = words.join(" ").len();
    if len > MAX {
        return Err(format!(
            "the kernel command line is {len} bytes long, and the kernel takes at most {MAX} \
             (it would refuse it at boot); use fewer or shorter words"
        ));
    }
    Ok(())
}

/// Parses a memory size: a positive whole number with a suffix K, M, G or T (binary units; an
/// optional trailing `B`/`iB` is accepted), or a bare number of MiB as QEMU reads it. The result is
/// in bytes and must be a whole number of MiB.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("invalid memory size '{s}': {why} (examples: 128M, 1G, 5G)");
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(digits_end);
    if num.is_empty() {
        return Err(bad("expected a number"));
    }
    let n: u64 = num.parse().map_err(|_| bad("number too large"))?;
    let suffix = suffix.to_ascii_uppercase();
    let suffix = suffix
        .strip_suffix("IB")
        .or_else(|| suffix.strip_suffix('B'))
        .unwrap_or(&suffix);
    let shift = match suffix {
        "" | "M" => 20,
        "K" => 10,
        "G" => 30,
        "T" => 40,
        _ => return Err(bad("unknown unit (use K, M, G or T)")),
    };
    if n == 0 {
        return Err(bad("must be positive"));
    }
    let bytes = n
        .checked_mul(1u64 << shift)
        .ok_or_else(|| bad("too large"))?;
    if !bytes.is_multiple_of(1 << 20) {
        return Err(bad("must be a whole number of MiB"));
    }
    Ok(bytes)
}

/// Renders a byte count as QEMU's `-m` value and as a human label: `128M`, `1G`, `5G`.
pub fn size_label(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 30) {
        format!("{}G", bytes >> 30)
    } else {
        format!("{}M", bytes >> 20)
    }
}

/// The default deadline: grows with the CPU count (AP start-up, per-CPU work) and with the
/// accelerator's slowness. TCG 30 s + 0.5 s/CPU, icount twice that, KVM 20 s + 0.2 s/CPU.
pub fn default_timeout_secs(accel: Accel, smp: u32) -> f64 {
    let cpus = f64::from(smp);
    match accel {
        Accel::Kvm => 20.0 + 0.2 * cpus,
        Accel::Tcg | Accel::Auto => 30.0 + 0.5 * cpus,
        Accel::Icount => 2.0 * (30.0 + 0.5 * cpus),
    }
}

/// The default `--smp` of `runner run`: the host's CPU count, clamped to 2..=8. Two is the
/// least a cross-CPU benchmark needs; more vCPUs than host CPUs would make cross-CPU figures
/// wait for the host's scheduler.
pub fn default_smp() -> u32 {
    let host = std::thread::available_parallelism().map_or(2, |n| n.get());
    host.clamp(2, 8) as u32
}

/// The warning for a TCG run with more vCPUs than host cores (multi-threaded TCG: a vCPU
/// waiting for a core makes every cross-CPU figure wait for the host's scheduler), or None.
/// The deterministic mode runs every vCPU on one thread and counts instructions: never.
pub fn scheduler_bound_warning(accel: Accel, smp: u32, host_cores: usize) -> Option<String> {
    if !bench_report::summary::is_scheduler_bound(accel.name(), smp as f64, host_cores as f64) {
        return None;
    }
    Some(format!(
        "runner: warning: {smp} vCPUs on {host_cores} host cores under TCG: the cross-CPU \
         figures (IPI round trip, shootdowns with targets, fault throughput) measure the \
         host's scheduler, not the kernel; use --smp {host_cores} or less, or --accel icount \
         for exact cross-CPU instruction counts at any CPU count"
    ))
}

/// How much longer a benchmark run may take on a software KVM backend (kvm_pvm) than its
/// default: every fault, timer tick and IPI traps to the hypervisor.
pub const SOFTWARE_KVM_TIMEOUT_FACTOR: f64 = 4.0;

/// The default timeout of a benchmark run: the quick suite or the full one (icount runs
/// about twice as long as TCG). The quick suite runs every shootdown protocol in both spaces:
/// about 6 minutes on the software KVM here (kvm_pvm, every fault and IPI a trap), so 15.
pub fn bench_timeout_secs(accel: Accel, quick: bool) -> f64 {
    let base = if quick { 900.0 } else { 3600.0 };
    if accel == Accel::Icount {
        2.0 * base
    } else {
        base
    }
}

/// Whether a kernel command line runs the benchmarks (the default job or `bench=`): no
/// `test=`, `help` or `crash=` word.
pub fn runs_benchmarks(kernel_args: &[String]) -> bool {
    !kernel_args
        .iter()
        .any(|w| w.starts_with("test=") || w == "help" || w.starts_with("crash="))
}

/// A VM as asked for (on the command line or in a test case); `cpu` and `timeout` may be left to
/// their defaults, and `accel` may be `auto`.
#[derive(Clone, Debug, PartialEq)]
pub struct VmConfig {
    pub accel: Accel,
    pub machine: Machine,
    pub cpu: Option<String>,
    pub smp: u32,
    pub memory: u64,
    pub firmware: Firmware,
    pub boot: Boot,
    pub timeout: Option<f64>,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            accel: Accel::Auto,
            machine: Machine::Q35,
            cpu: None,
            smp: 2,
            memory: 1 << 30,
            firmware: Firmware::Qboot,
            boot: Boot::Kernel,
            timeout: None,
        }
    }
}

/// A VM with every choice made: the accelerator is concrete, the CPU model and timeout are set,
/// the firmware file (if any) exists.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedVm {
    pub accel: Accel,
    pub machine: Machine,
    pub cpu: String,
    pub smp: u32,
    pub memory: u64,
    pub firmware: Firmware,
    pub bios: Option<PathBuf>,
    pub boot: Boot,
    pub timeout: f64,
    /// Add `nosmap` to the kernel's command line: the software KVM backend (kvm_pvm) fails
    /// with "emulation failure" on STAC/CLAC, and its CPUID reports SMAP whatever `-cpu` says.
    pub nosmap: bool,
    /// Add `bench_deterministic` to a benchmark run's command line (our kernel in the
    /// deterministic mode: its clock counts every vCPU's instructions in turn).
    pub bench_deterministic: bool,
    /// Add `bench_raw` to a benchmark run's command line: every sample is printed (a
    /// `samples` record before each result) and lands in the results folder's
    /// samples.csv.gz. Set by `runner run` with `--results`; off in the test matrix unless a
    /// case asks for it.
    pub bench_raw: bool,
}

/// What QEMU boots.
#[derive(Clone, Copy, Debug)]
pub enum BootMedia<'a> {
    /// The kernel ELF through `-kernel`, its command line through `-append`.
    Kernel { elf: &'a Path, args: &'a [String] },
    /// A bootable CD image (the GRUB ISO, which holds the kernel and its command line).
    Cdrom(&'a Path),
}

/// The deterministic mode's default CPU model: `max` without x2APIC. QEMU's x86 TCG does not
/// mark RDMSR/WRMSR as I/O (`translator_io_start`), so an x2APIC timer register access,
/// which reads the virtual clock, aborts QEMU with "Bad icount read" (QEMU 10.0); the xAPIC
/// registers are MMIO, which icount handles (the access is re-run as the last instruction
/// of its block). The price: no x2APIC cluster delivery in this mode (a `skip` record).
pub const ICOUNT_CPU: &str = "max,-x2apic";

impl ResolvedVm {
    /// `kvm_cpu`: the CPU model the KVM probe found working (used when accel is kvm and no
    /// `--cpu` was given). `accel` must already be concrete.
    pub fn new(vm: &VmConfig, accel: Accel, kvm_cpu: Option<&str>) -> Result<ResolvedVm, String> {
        assert_ne!(accel, Accel::Auto, "resolve auto before building the VM");
        if vm.smp == 0 {
            return Err("--smp must be at least 1".into());
        }
        let cpu = match (&vm.cpu, accel) {
            (Some(c), _) => c.clone(),
            (None, Accel::Kvm) => kvm_cpu.unwrap_or(crate::kvm::CPU_MODELS[0]).to_string(),
            (None, Accel::Icount) => ICOUNT_CPU.to_string(),
            (None, _) => "max".to_string(),
        };
        check_boot_firmware(vm.boot, &vm.firmware)?;
        let bios = vm.firmware.bios_file()?;
        Ok(ResolvedVm {
            accel,
            machine: vm.machine,
            cpu,
            smp: vm.smp,
            memory: vm.memory,
            firmware: vm.firmware.clone(),
            bios,
            boot: vm.boot,
            timeout: vm
                .timeout
                .unwrap_or_else(|| default_timeout_secs(accel, vm.smp)),
            nosmap: accel == Accel::Kvm && crate::cases::software_kvm(),
            bench_deterministic: accel == Accel::Icount,
            bench_raw: false,
        })
    }

    pub fn deterministic(&self) -> bool {
        self.accel == Accel::Icount
    }

    /// The kernel's command line words as QEMU's `-append` gets them: `args`, plus `nosmap`
    /// where the VM needs it and the boot is QEMU's `-kernel` loader.
    pub fn kernel_words(&self, args: &[String]) -> Vec<String> {
        let mut args = args.to_vec();
        if self.nosmap && self.boot == Boot::Kernel && !args.iter().any(|w| w == "nosmap") {
            args.push("nosmap".into());
        }
        for (on, word) in [
            (self.bench_deterministic, "bench_deterministic"),
            (self.bench_raw, "bench_raw"),
        ] {
            if on
                && self.boot == Boot::Kernel
                && runs_benchmarks(&args)
                && !args.iter().any(|w| w == word)
            {
                args.push(word.into());
            }
        }
        args
    }

    /// QEMU's arguments (without the program name).
    pub fn qemu_args(&self, media: BootMedia, extra: &[String]) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "-machine".into(),
            self.machine.name().into(),
            "-cpu".into(),
            self.cpu.clone(),
            "-smp".into(),
            self.smp.to_string(),
            "-m".into(),
            size_label(self.memory),
            "-display".into(),
            "none".into(),
            "-serial".into(),
            "stdio".into(),
            "-monitor".into(),
            "none".into(),
            "-nodefaults".into(),
            "-no-reboot".into(),
            "-device".into(),
            format!(
                "isa-debug-exit,iobase={:#x},iosize=0x04",
                kernel_core::qemu_exit::PORT
            ),
        ];
        match self.accel {
            Accel::Kvm => a.extend(["-accel".into(), "kvm".into()]),
            Accel::Tcg => {
                let thread = if self.smp == 1 { "single" } else { "multi" };
                a.extend(["-accel".into(), format!("tcg,thread={thread}")]);
            }
            Accel::Icount => a.extend([
                "-accel".into(),
                "tcg,thread=single".into(),
                "-icount".into(),
                "shift=0,sleep=off".into(),
            ]),
            Accel::Auto => unreachable!("accelerator not resolved"),
        }
        if let Some(bios) = &self.bios {
            a.extend(["-bios".into(), bios.display().to_string()]);
        }
        match media {
            BootMedia::Kernel { elf, args } => {
                a.extend(["-kernel".into(), elf.display().to_string()]);
                let args = self.kernel_words(args);
                if !args.is_empty() {
                    a.extend(["-append".into(), args.join(" ")]);
                }
            }
            BootMedia::Cdrom(iso) => a.extend(["-cdrom".into(), iso.display().to_string()]),
        }
        a.extend(extra.iter().cloned());
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("128M"), Ok(128 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("5G"), Ok(5 << 30));
        assert_eq!(parse_size("5g"), Ok(5 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2048"), Ok(2048 << 20));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("2048K"), Ok(2 << 20));
        for bad in [
            "",
            "M",
            "abc",
            "12X",
            "0M",
            "1.5G",
            "-1G",
            "100K",
            "99999999999999999999G",
        ] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.contains("invalid memory size"), "{bad}: {e}");
        }
    }

    #[test]
    fn size_labels() {
        assert_eq!(size_label(128 << 20), "128M");
        assert_eq!(size_label(1 << 30), "1G");
        assert_eq!(size_label(5 << 30), "5G");
        assert_eq!(size_label(1536 << 20), "1536M");
    }

    #[test]
    fn benchmark_defaults() {
        let n = default_smp();
        assert!((2..=8).contains(&n));
        assert!(
            runs_benchmarks(&[]),
            "the default job is the benchmark suite"
        );
        assert!(runs_benchmarks(&["bench_quick".into(), "bench=pf".into()]));
        assert!(!runs_benchmarks(&["test=all".into()]));
        assert!(!runs_benchmarks(&["help".into()]));
        assert!(!runs_benchmarks(&["crash=panic".into()]));
        assert!(bench_timeout_secs(Accel::Tcg, true) < bench_timeout_secs(Accel::Tcg, false));
        assert_eq!(
            bench_timeout_secs(Accel::Icount, true),
            2.0 * bench_timeout_secs(Accel::Tcg, true)
        );
    }

    #[test]
    fn timeouts_scale() {
        assert_eq!(default_timeout_secs(Accel::Tcg, 1), 30.5);
        assert_eq!(default_timeout_secs(Accel::Tcg, 64), 62.0);
        assert_eq!(default_timeout_secs(Accel::Icount, 4), 64.0);
        assert_eq!(default_timeout_secs(Accel::Kvm, 10), 22.0);
        assert!(default_timeout_secs(Accel::Tcg, 8) > default_timeout_secs(Accel::Tcg, 2));
    }

    fn vm(accel: Accel, smp: u32) -> ResolvedVm {
        let cfg = VmConfig {
            accel,
            smp,
            firmware: Firmware::SeaBios,
            ..VmConfig::default()
        };
        ResolvedVm::new(&cfg, accel, Some("host,-arch-capabilities,+invtsc")).unwrap()
    }

    #[test]
    fn more_vcpus_than_cores_under_tcg_is_warned_about() {
        let w = scheduler_bound_warning(Accel::Tcg, 64, 2).unwrap();
        assert!(
            w.contains("64 vCPUs on 2 host cores") && w.contains("--accel icount"),
            "{w}"
        );
        assert_eq!(scheduler_bound_warning(Accel::Tcg, 2, 2), None);
        assert_eq!(scheduler_bound_warning(Accel::Icount, 64, 2), None);
        assert_eq!(scheduler_bound_warning(Accel::Kvm, 4, 2), None);
    }

    #[test]
    fn qemu_command_lines() {
        let kernel_args = ["test=all".to_string(), "exit=qemu".to_string()];
        let media = BootMedia::Kernel {
            elf: Path::new("k.elf"),
            args: &kernel_args,
        };
        let args = |v: &ResolvedVm| v.qemu_args(media, &[]).join(" ");
        let tcg1 = args(&vm(Accel::Tcg, 1));
        assert!(tcg1.starts_with("-machine q35 -cpu max -smp 1 -m 1G -display none -serial stdio"));
        assert!(tcg1.contains("-no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04"));
        assert!(tcg1.contains("-accel tcg,thread=single -kernel k.elf -append test=all exit=qemu"));
        assert!(!tcg1.contains("-bios"));
        assert!(args(&vm(Accel::Tcg, 4)).contains("-accel tcg,thread=multi"));
        let icount = args(&vm(Accel::Icount, 4));
        assert!(icount.contains("-accel tcg,thread=single -icount shift=0,sleep=off"));
        // The x2APIC timer's MSRs abort QEMU's icount mode ("Bad icount read").
        assert!(icount.contains("-cpu max,-x2apic -smp 4"));
        let kvm = args(&vm(Accel::Kvm, 2));
        assert!(kvm.contains("-cpu host,-arch-capabilities,+invtsc") && kvm.contains("-accel kvm"));
        let bare = BootMedia::Kernel {
            elf: Path::new("k"),
            args: &[],
        };
        let none = vm(Accel::Tcg, 1).qemu_args(bare, &["-s".into()]);
        assert!(!none.contains(&"-append".to_string()));
        assert_eq!(none.last().unwrap(), "-s");

        let cd = vm(Accel::Tcg, 2)
            .qemu_args(BootMedia::Cdrom(Path::new("/t/kernel.iso")), &[])
            .join(" ");
        assert!(
            cd.ends_with("-accel tcg,thread=multi -cdrom /t/kernel.iso"),
            "{cd}"
        );
        assert!(!cd.contains("-kernel") && !cd.contains("-append"), "{cd}");
    }

    #[test]
    fn grub_boot_needs_a_cd_capable_firmware() {
        assert_eq!(Boot::parse("grub"), Some(Boot::Grub));
        assert_eq!(Boot::parse("kernel"), Some(Boot::Kernel));
        assert_eq!(Boot::parse("pxe"), None);
        let grub = |firmware| VmConfig {
            boot: Boot::Grub,
            firmware,
            ..VmConfig::default()
        };
        let e = ResolvedVm::new(&grub(Firmware::Qboot), Accel::Tcg, None).unwrap_err();
        assert!(
            e.contains("qboot cannot boot from a CD") && e.contains("seabios"),
            "{e}"
        );
        let v = ResolvedVm::new(&grub(Firmware::SeaBios), Accel::Tcg, None).unwrap();
        assert_eq!(v.boot, Boot::Grub);
        assert_eq!(check_boot_firmware(Boot::Kernel, &Firmware::Qboot), Ok(()));
    }

    #[test]
    fn uefi_firmware_needs_the_image() {
        assert!(Firmware::Ovmf.is_uefi());
        assert!(!Firmware::SeaBios.is_uefi() && !Firmware::Qboot.is_uefi());
        assert!(!Firmware::parse("/nonexistent/OVMF.fd").is_uefi());
        let dir = std::env::temp_dir();
        let uefi = dir.join(format!("vm-uefi-{}.fd", std::process::id()));
        let bios = dir.join(format!("vm-bios-{}.bin", std::process::id()));
        let mut head = vec![0u8; 0x40];
        std::fs::write(&bios, &head).unwrap();
        head[0x28..0x2c].copy_from_slice(b"_FVH");
        std::fs::write(&uefi, &head).unwrap();
        let (u, b) = (Firmware::Path(uefi.clone()), Firmware::Path(bios.clone()));
        assert!(u.is_uefi() && !b.is_uefi());
        for boot in [Boot::Kernel, Boot::Grub] {
            assert!(check_multiboot_firmware(boot, &Firmware::Ovmf).is_err());
            assert!(check_multiboot_firmware(boot, &u).is_err());
            assert_eq!(check_multiboot_firmware(boot, &b), Ok(()));
            assert_eq!(check_multiboot_firmware(boot, &Firmware::SeaBios), Ok(()));
        }
        let image = Boot::Image(crate::grub::Entry::Quick);
        assert_eq!(check_multiboot_firmware(image, &Firmware::Ovmf), Ok(()));
        let _ = std::fs::remove_file(&uefi);
        let _ = std::fs::remove_file(&bios);
    }

    #[test]
    fn cmdline_length_and_nosmap() {
        let max = kernel_core::bootinfo::CMDLINE_MAX;
        assert_eq!(check_cmdline_len(&["a".repeat(max)]), Ok(()));
        assert!(check_cmdline_len(&["a".repeat(max - 1), "b".into()]).is_err());
        let mut v = vm(Accel::Kvm, 2);
        v.nosmap = true;
        assert_eq!(v.kernel_words(&["x".into()]), ["x", "nosmap"]);
        assert_eq!(v.kernel_words(&["nosmap".into()]), ["nosmap"]);
        // The deterministic mode tells a benchmark run (not a test run) so.
        let mut d = vm(Accel::Icount, 2);
        assert!(d.bench_deterministic);
        assert_eq!(
            d.kernel_words(&["bench_quick".into()]),
            ["bench_quick", "bench_deterministic"]
        );
        assert_eq!(d.kernel_words(&["test=all".into()]), ["test=all"]);
        d.bench_deterministic = false;
        assert_eq!(d.kernel_words(&["bench_quick".into()]), ["bench_quick"]);
        // Raw samples: asked for by `runner run --results`, benchmark runs only.
        d.bench_raw = true;
        assert_eq!(
            d.kernel_words(&["bench_quick".into()]),
            ["bench_quick", "bench_raw"]
        );
        assert_eq!(d.kernel_words(&["test=all".into()]), ["test=all"]);
        assert_eq!(d.kernel_words(&["bench_raw".into()]), ["bench_raw"]);
        v.boot = Boot::Grub;
        assert_eq!(v.kernel_words(&["x".into()]), ["x"]);
    }

    #[test]
    fn missing_firmware_is_an_error() {
        let cfg = VmConfig {
            firmware: Firmware::parse("/nonexistent/fw.bin"),
            ..VmConfig::default()
        };
        let e = ResolvedVm::new(&cfg, Accel::Tcg, None).unwrap_err();
        assert!(e.contains("/nonexistent/fw.bin") && e.contains("does not exist"));
    }
}
