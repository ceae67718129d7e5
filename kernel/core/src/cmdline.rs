//! The kernel command line, parsed into typed [`Options`].
//!
//! The line is a sequence of words separated by ASCII whitespace; each word is `key=value` or a
//! bare flag `key`. Every key the kernel understands is listed once, in [`OPTIONS`], with its
//! kind and help text; [`write_help`] prints that table and [`parse`] validates against it.
//!
//! Adding an option takes an entry in [`OPTIONS`], a field in [`Options`] and one arm in
//! `Options::set` (a test checks that every table entry reaches a field).

use core::fmt;

/// What an option accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptKind {
    /// A bare word without a value: `key`.
    Flag,
    /// `key=value`, with the value one of the listed words.
    Choice(&'static [&'static str]),
    /// `key=number`, decimal or `0x` hexadecimal, within `min..=max`.
    UInt {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// `key=all` or `key=a,b,c`: a non-empty comma-separated list of the listed names.
    List(&'static [&'static str]),
}

/// One entry of the option table.
#[derive(Debug, PartialEq, Eq)]
pub struct OptSpec {
    /// The word before `=`.
    pub key: &'static str,
    /// What the value must look like.
    pub kind: OptKind,
    /// One line of help, shown by the `help` option.
    pub help: &'static str,
}

/// Names of the in-kernel self-tests, in the order they run; `test=` selects among them.
/// Benchmark groups, in the order the suite runs them (the kernel's `bench::GROUPS`).
pub const BENCHES: &[&str] = &[
    "floors",
    "pf",
    "pf_throughput",
    "pf_contention",
    "shootdown",
    "shootdown_phases",
    "shootdown_topology",
    "shootdown_concurrent",
    "shootdown_oracle",
];

/// The TLB shootdown protocols, in the order of the kernel's registry
/// (`sys::mm::tlb::PROTOCOLS`, checked at boot); `shootdown_protocol=` selects among them.
pub const SHOOTDOWN_PROTOCOLS: &[&str] = &[
    "sync",
    "sync_invpcid",
    "early_ack",
    "linux",
    "batched",
    "lazy_epoch",
    "deferred",
    "invlpgb",
];

/// Protocols whose initiator returns before every CPU dropped the old translation: stale
/// reads are allowed until the reclaim point (`lazy_epoch`, `deferred`).
pub const RELAXED_PROTOCOLS: &[&str] = &["lazy_epoch", "deferred"];

/// The fault-path variants (`pf_variant=`), in the order the benchmark runs them; the names
/// are the `variant` param of every `pf_kernel` / `pf_user` result (`sys::mm::fault::Variant`
/// has one entry per name, in this order).
pub const PF_VARIANTS: &[&str] = &[
    "demand_zero",
    "zero_page",
    "pt_on_demand",
    "huge_2m",
    "prezeroed",
    "fault_around",
];

/// How the pre-zeroed pool's frames are zeroed (`pf_zero=`).
pub const PF_ZERO_METHODS: &[&str] = &["stosq", "stosb", "movnti", "clzero"];

/// Deliberately broken fault-path variants (`pf_break=`), for the page checks' tests.
pub const PF_BREAKS: &[&str] = &["none", "poison_pool"];

/// Concurrency controls of faults in one shared address space (`pf_control=`): one lock for
/// the space, one per 8 MiB region, one per page-table page (2 MiB), lock-free (CAS on the
/// PTE), and `none`, the negative control (no lock at all).
pub const PF_CONTROLS: &[&str] = &["space", "region", "table", "cas", "none"];

/// Deliberately broken shootdown variants (`shootdown_break=`), for the oracle's tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ShootdownBreak {
    /// A correct protocol.
    #[default]
    None,
    /// One target acknowledges without invalidating.
    SkipInvlpg,
    /// One target is left out of the request.
    LeaveOut,
    /// The initiator does not invalidate its own TLB.
    SkipLocal,
    /// Early acknowledgement: one target acknowledges on entry and returns to the interrupted
    /// code before invalidating (it invalidates in a later interrupt: its timer, 20 ms after
    /// the first invalidation it owes).
    EarlyReturn,
    /// Linux-faithful protocol: a CPU skipped as lazy switches back without catching up.
    SkipCatchup,
    /// Lazy and deferred protocols: the old frames are recycled without waiting for the
    /// reclaim point (one epoch early, or before the deferred flush).
    RecycleEarly,
}

impl ShootdownBreak {
    /// Every variant, in [`Self::NAMES`] order.
    pub const ALL: [ShootdownBreak; 7] = [
        ShootdownBreak::None,
        ShootdownBreak::SkipInvlpg,
        ShootdownBreak::LeaveOut,
        ShootdownBreak::SkipLocal,
        ShootdownBreak::EarlyReturn,
        ShootdownBreak::SkipCatchup,
        ShootdownBreak::RecycleEarly,
    ];
    /// The command-line names.
    pub const NAMES: &[&str] = &[
        "none",
        "skip_invlpg",
        "leave_out",
        "skip_local",
        "early_return",
        "skip_catchup",
        "recycle_early",
    ];
    /// This variant's command-line name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Whether this broken variant applies to `protocol` (a name of [`SHOOTDOWN_PROTOCOLS`]):
    /// the oracle runs a broken variant only on the protocols it can break, and each of those
    /// must be caught in every configuration. The generic breaks apply to every protocol whose
    /// targets take part (INVLPGB's targets do nothing, so only the initiator's own
    /// invalidation can be skipped there).
    pub fn applies_to(self, protocol: &str) -> bool {
        match self {
            ShootdownBreak::None => true,
            ShootdownBreak::SkipInvlpg | ShootdownBreak::LeaveOut => protocol != "invlpgb",
            ShootdownBreak::SkipLocal => true,
            ShootdownBreak::EarlyReturn => protocol == "early_ack",
            ShootdownBreak::SkipCatchup => protocol == "linux",
            ShootdownBreak::RecycleEarly => RELAXED_PROTOCOLS.contains(&protocol),
        }
    }
}

/// How the TSC rate is found (`tsc_calibration=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum TscCalibration {
    /// CPUID 0x15 (with 0x16), the hypervisor leaf, the PM timer, the HPET, the PIT: the first
    /// that works.
    #[default]
    Auto,
    /// CPUID 0x15 (with the crystal from 0x16 where 0x15 leaves it out).
    Cpuid,
    /// The hypervisor's timing leaf 0x40000010.
    Hypervisor,
    /// Calibrated against the ACPI PM timer.
    PmTimer,
    /// Calibrated against the HPET.
    Hpet,
    /// Calibrated against the PIT.
    Pit,
}

impl TscCalibration {
    /// Every variant, in [`Self::NAMES`] order.
    pub const ALL: [TscCalibration; 6] = [
        TscCalibration::Auto,
        TscCalibration::Cpuid,
        TscCalibration::Hypervisor,
        TscCalibration::PmTimer,
        TscCalibration::Hpet,
        TscCalibration::Pit,
    ];
    /// The command-line names.
    pub const NAMES: &[&str] = &["auto", "cpuid", "hypervisor", "pm_timer", "hpet", "pit"];
}

/// The benchmark settings of the command line (`bench*` and `shootdown_*` keys).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BenchOptions {
    /// `bench=`: bit i set = `BENCHES[i]` selected; `None`: the key was not given.
    pub groups: Option<u64>,
    /// `bench_deterministic`: one clock counting every CPU's instructions in turn.
    pub deterministic: bool,
    /// `bench_samples=`: samples per result.
    pub samples: Option<u64>,
    /// `bench_warmup=`: discarded iterations before each result.
    pub warmup: Option<u64>,
    /// `bench_quick`: fewer samples, shorter sweeps.
    pub quick: bool,
    /// `bench_raw`: a `samples` record (every sample, in measurement order) before each
    /// `result`.
    pub raw: bool,
    /// Largest number of CPUs a sweep uses (targets + initiator, faulting CPUs).
    pub cpus: Option<u64>,
    /// Pages above which a shootdown flushes the whole TLB instead of page by page.
    pub flush_ceiling: Option<u64>,
    /// `shootdown_break=`: a deliberately broken variant for the oracle.
    pub breakage: Option<ShootdownBreak>,
    /// Cycles a target waits after invalidating before it acknowledges.
    pub ack_delay: Option<u64>,
    /// One target never acknowledges (the initiator must give up with an error).
    pub never_ack: bool,
    /// `shootdown_timeout_ms=`: how long an initiator waits for acks.
    pub timeout_ms: Option<u64>,
    /// `shootdown_protocol=`: bit i set = `SHOOTDOWN_PROTOCOLS[i]` selected; None: all.
    pub protocols: Option<u64>,
    /// `pf_variant=`: bit i set = `PF_VARIANTS[i]` selected; None: all.
    pub pf_variants: Option<u64>,
    /// `pf_zero=`: index into [`PF_ZERO_METHODS`] (None: 0, REP STOSQ).
    pub pf_zero: Option<usize>,
    /// `pf_fault_around=`: pages one fault maps under `fault_around` (default 16).
    pub pf_fault_around: Option<u64>,
    /// `pf_pool=`: frames of the pre-zeroed pool per CPU (default 1024).
    pub pf_pool: Option<u64>,
    /// `pf_break=`: index into [`PF_BREAKS`] (None or 0: none).
    pub pf_break: Option<usize>,
    /// `pf_control=`: bit i set = `PF_CONTROLS[i]` selected; None: every control but `none`.
    pub pf_controls: Option<u64>,
}

impl BenchOptions {
    /// Whether group `i` of [`BENCHES`] runs (all of them when `bench=` is absent).
    pub fn selected(&self, i: usize) -> bool {
        self.groups.is_none_or(|g| g & (1 << i) != 0)
    }

    /// Whether concurrency control `i` of [`PF_CONTROLS`] runs (all but the negative control
    /// `none` when the key is absent).
    pub fn pf_control_selected(&self, i: usize) -> bool {
        match self.pf_controls {
            Some(g) => g & (1 << i) != 0,
            None => PF_CONTROLS[i] != "none",
        }
    }

    /// Whether fault variant `i` of [`PF_VARIANTS`] runs (all when the key is absent).
    pub fn pf_variant_selected(&self, i: usize) -> bool {
        self.pf_variants.is_none_or(|g| g & (1 << i) != 0)
    }

    /// Whether protocol `i` of [`SHOOTDOWN_PROTOCOLS`] runs (all when the key is absent).
    pub fn protocol_selected(&self, i: usize) -> bool {
        self.protocols.is_none_or(|g| g & (1 << i) != 0)
    }

    /// The bit set of a validated `all` or comma-separated list of `names`.
    fn select_from(names: &[&str], list: &str) -> u64 {
        let mut g = 0;
        for name in list.split(',') {
            if name == "all" {
                g |= (1 << names.len()) - 1;
            } else if let Some(i) = names.iter().position(|b| *b == name) {
                g |= 1 << i;
            }
        }
        g
    }

    fn select(list: &str) -> u64 {
        Self::select_from(BENCHES, list)
    }
}

/// The kernel's self-tests, by name (`test=`).
pub const SELFTESTS: &[&str] = &[
    "higher_half",
    "identity_gone",
    "text_readonly",
    "rodata_nx",
    "direct_map_last_frame",
    "alloc_unique",
    "mmio_uncached",
    "smp_all_online",
    "percpu_isolation",
    "ap_self_checks",
    "user_mode",
    "syscall",
    "smap_smep",
    "tsc_calibration",
];

/// Every option of the kernel command line: the one place that lists them.
pub static OPTIONS: &[OptSpec] = &[
    OptSpec {
        key: "help",
        kind: OptKind::Flag,
        help: "print these options and exit",
    },
    OptSpec {
        key: "exit",
        kind: OptKind::Choice(ExitMode::NAMES),
        help: "how the run ends: QEMU's isa-debug-exit device or halt (bare metal); \
               default: qemu when a hypervisor is present, else halt",
    },
    OptSpec {
        key: "test",
        kind: OptKind::List(SELFTESTS),
        help: "run the in-kernel self-tests: all, or a comma-separated list of names",
    },
    OptSpec {
        key: "smp_wake",
        kind: OptKind::Choice(WakeStrategy::NAMES),
        help: "how APs are woken: parallel (INIT/SIPI/SIPI to each, all at once; default) or \
               serial (one AP after another)",
    },
    OptSpec {
        key: "smp_deadline_ms",
        kind: OptKind::UInt {
            min: 1,
            max: 600_000,
        },
        help: "how long an AP may take to check in after its SIPIs (default: 2000 + 100 per AP \
               for parallel, 2000 per AP for serial)",
    },
    OptSpec {
        key: "smp_skip",
        kind: OptKind::UInt {
            min: 0,
            max: u32::MAX as u64,
        },
        help: "failure injection: never wake the AP with this APIC id",
    },
    OptSpec {
        key: "smp_fake_apic",
        kind: OptKind::UInt {
            min: 0,
            max: u32::MAX as u64,
        },
        help: "failure injection: add a CPU with this made-up APIC id to the list",
    },
    OptSpec {
        key: "smp_late",
        kind: OptKind::UInt {
            min: 0,
            max: u32::MAX as u64,
        },
        help: "failure injection: the AP with this APIC id checks in only after its deadline",
    },
    OptSpec {
        key: "smp_unlisted",
        kind: OptKind::UInt {
            min: 0,
            max: u32::MAX as u64,
        },
        help: "failure injection: wake the AP with this APIC id but leave it out of the \
               trampoline's table, so it parks there; it is then sent an NMI",
    },
    OptSpec {
        key: "bench",
        kind: OptKind::List(BENCHES),
        help: "run benchmark groups: all (the default job), or a comma-separated list",
    },
    OptSpec {
        key: "bench_samples",
        kind: OptKind::UInt {
            min: 1,
            max: 100_000,
        },
        help: "samples per result (default 2000, 200 with bench_quick)",
    },
    OptSpec {
        key: "bench_warmup",
        kind: OptKind::UInt {
            min: 0,
            max: 100_000,
        },
        help: "warm-up iterations discarded before each result (default 200, 20 quick)",
    },
    OptSpec {
        key: "bench_quick",
        kind: OptKind::Flag,
        help: "fewer samples and shorter sweeps, every kind of workload still runs",
    },
    OptSpec {
        key: "bench_raw",
        kind: OptKind::Flag,
        help: "print every sample: a `samples` record before each result (the runner adds it \
               under an emulator; over a real 115200-baud serial line a full suite's samples \
               take about 15 minutes)",
    },
    OptSpec {
        key: "bench_deterministic",
        kind: OptKind::Flag,
        help: "the TSC counts the instructions of every CPU one after another (QEMU icount; \
               the runner adds it): the phase breakdown then runs at every sweep target count \
               and reports each shootdown's critical path",
    },
    OptSpec {
        key: "bench_cpus",
        kind: OptKind::UInt { min: 1, max: 512 },
        help: "largest number of CPUs a sweep uses (default: all online)",
    },
    OptSpec {
        key: "pf_variant",
        kind: OptKind::List(PF_VARIANTS),
        help: "fault-path variants the page-fault benchmark runs: all (the default) or a \
               comma-separated list of demand_zero, zero_page, pt_on_demand (page tables \
               allocated in the fault), huge_2m (2 MiB pages), prezeroed (frames from a pool \
               zeroed beforehand), fault_around (one fault maps pf_fault_around pages)",
    },
    OptSpec {
        key: "pf_zero",
        kind: OptKind::Choice(PF_ZERO_METHODS),
        help: "how the prezeroed pool's frames are zeroed: stosq (REP STOSQ, the default), \
               stosb (REP STOSB), movnti (non-temporal stores), clzero (AMD; a skip record \
               elsewhere)",
    },
    OptSpec {
        key: "pf_fault_around",
        kind: OptKind::UInt { min: 2, max: 512 },
        help: "pages one fault maps under the fault_around variant (default 16, as Linux's \
               fault_around_bytes of 64 KiB), the aligned window around the faulting page",
    },
    OptSpec {
        key: "pf_pool",
        kind: OptKind::UInt { min: 64, max: 8192 },
        help: "frames in each CPU's pre-zeroed pool (prezeroed variant; default 1024): a \
               round of faults never takes more than the pool holds",
    },
    OptSpec {
        key: "pf_control",
        kind: OptKind::List(PF_CONTROLS),
        help: "concurrency controls the pf_contention benchmark runs (CPUs faulting in one \
               shared region): space (one lock), region (one per 8 MiB), table (one per \
               page-table page), cas (lock-free), none (the negative control: no lock; its \
               mapped-once check must fail); default all but none",
    },
    OptSpec {
        key: "pf_break",
        kind: OptKind::Choice(PF_BREAKS),
        help: "page-check test: none, or poison_pool (one pre-zeroed pool frame gets a \
               nonzero word; the pool audit must catch it)",
    },
    OptSpec {
        key: "shootdown_ceiling",
        kind: OptKind::UInt { min: 0, max: 512 },
        help: "pages above which a shootdown flushes the whole TLB (default 32)",
    },
    OptSpec {
        key: "shootdown_break",
        kind: OptKind::Choice(ShootdownBreak::NAMES),
        help: "oracle test: none, skip_invlpg (a target acks without invalidating), \
               leave_out (a target is not asked), skip_local (the initiator does not \
               invalidate its own TLB), early_return (early_ack: a target returns before \
               invalidating), skip_catchup (linux: a lazy CPU switches back without catching \
               up) or recycle_early (lazy_epoch, deferred: frames reused before the reclaim \
               point); the oracle runs it on the protocols it applies to",
    },
    OptSpec {
        key: "shootdown_protocol",
        kind: OptKind::List(SHOOTDOWN_PROTOCOLS),
        help: "shootdown protocols the sweep and the oracle run: all (the default) or a \
               comma-separated list of sync, sync_invpcid, early_ack, linux, batched, \
               lazy_epoch, deferred, invlpgb",
    },
    OptSpec {
        key: "shootdown_ack_delay",
        kind: OptKind::UInt {
            min: 0,
            max: 1_000_000_000,
        },
        help: "TSC ticks every target waits between its flush and its ack (the sweep and the \
               oracle; a sweep result then carries an ack_delay param)",
    },
    OptSpec {
        key: "shootdown_never_ack",
        kind: OptKind::Flag,
        help: "oracle test: one target never acks; the initiator must end with an error",
    },
    OptSpec {
        key: "shootdown_timeout_ms",
        kind: OptKind::UInt {
            min: 1,
            max: 600_000,
        },
        help: "how long an initiator waits for acks before reporting an error (default 1000)",
    },
    OptSpec {
        key: "acpi_corrupt_madt",
        kind: OptKind::Flag,
        help: "failure injection: read the MADT with one byte flipped (its checksum fails), so \
               the kernel must continue on the BSP alone",
    },
    OptSpec {
        key: "tsc_calibration",
        kind: OptKind::Choice(TscCalibration::NAMES),
        help: "how the TSC rate is found: auto (CPUID 0x15/0x16, the hypervisor leaf, the \
               ACPI PM timer, the HPET, the PIT: the first that works) or one of them; a \
               source the machine lacks leaves the rate unknown (a clear error)",
    },
    OptSpec {
        key: "nosmap",
        kind: OptKind::Flag,
        help: "leave CR4.SMAP off (for hypervisors that cannot run STAC/CLAC, such as the \
               software KVM backend kvm_pvm; the runner adds it there)",
    },
    OptSpec {
        key: "crash",
        kind: OptKind::Choice(Crash::NAMES),
        help: "fail deliberately in the chosen way (tests the failure reporting)",
    },
];

// `parse` records the keys seen so far in a `u64` bit set.
const _: () = assert!(
    OPTIONS.len() <= 64,
    "the duplicate check holds one bit per option"
);

/// How a run ends (`exit=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitMode {
    /// Write the status to QEMU's isa-debug-exit device.
    Qemu,
    /// Report the status on the serial port and halt (bare metal).
    Halt,
}

impl ExitMode {
    /// Every mode, in the order of [`ExitMode::NAMES`].
    pub const ALL: [ExitMode; 2] = [ExitMode::Qemu, ExitMode::Halt];
    /// The command-line spelling of each mode, in the order of [`ExitMode::ALL`].
    pub const NAMES: &'static [&'static str] = &["qemu", "halt"];

    /// The command-line spelling of this mode.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// How application processors are woken (`smp_wake=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeStrategy {
    /// INIT, then SIPI, SIPI to every AP at once; one deadline for all.
    Parallel,
    /// INIT, SIPI, SIPI and wait, one AP after another.
    Serial,
}

impl WakeStrategy {
    /// Every strategy, in the order of [`WakeStrategy::NAMES`].
    pub const ALL: [WakeStrategy; 2] = [WakeStrategy::Parallel, WakeStrategy::Serial];
    /// The command-line spelling of each strategy.
    pub const NAMES: &'static [&'static str] = &["parallel", "serial"];

    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// A deliberate failure (`crash=`), to test how failures are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// Call `panic!`.
    Panic,
    /// Touch an unmapped address.
    PageFault,
    /// Recurse until the stack guard page is hit.
    StackOverflow,
    /// Load an empty IDT and raise an exception: the CPU resets.
    TripleFault,
    /// Spin forever with interrupts off: the host's timeout must catch it.
    Hang,
    /// Return from the kernel's main path without writing the `end` record.
    NoEnd,
    /// Recurse on an application processor (logical CPU 1) until its stack's guard page.
    ApStackOverflow,
}

impl Crash {
    /// Every crash, in the order of [`Crash::NAMES`].
    pub const ALL: [Crash; 7] = [
        Crash::Panic,
        Crash::PageFault,
        Crash::StackOverflow,
        Crash::TripleFault,
        Crash::Hang,
        Crash::NoEnd,
        Crash::ApStackOverflow,
    ];
    /// The command-line spelling of each crash, in the order of [`Crash::ALL`].
    pub const NAMES: &'static [&'static str] = &[
        "panic",
        "pagefault",
        "stack_overflow",
        "triple_fault",
        "hang",
        "no_end",
        "ap_stack_overflow",
    ];

    /// The command-line spelling of this crash.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// Which self-tests `test=` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestSelection<'a> {
    /// `test=all`, or a list naming `all`.
    All,
    /// A validated comma-separated list of names from [`SELFTESTS`] (may repeat a name).
    List(&'a str),
}

impl<'a> TestSelection<'a> {
    /// The selection for a list already validated against [`SELFTESTS`].
    fn from_list(list: &'a str) -> Self {
        if list.split(',').any(|element| element == "all") {
            TestSelection::All
        } else {
            TestSelection::List(list)
        }
    }

    /// Whether the self-test `name` is selected.
    pub fn includes(&self, name: &str) -> bool {
        match self {
            TestSelection::All => SELFTESTS.contains(&name),
            TestSelection::List(list) => list.split(',').any(|element| element == name),
        }
    }

    /// The selected self-tests, each once, in [`SELFTESTS`] order.
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        SELFTESTS
            .iter()
            .copied()
            .filter(move |name| self.includes(name))
    }
}

/// The typed result of [`parse`]: `None` or `false` where the line does not give the option.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options<'a> {
    /// `help`: print the options and exit.
    pub help: bool,
    /// `exit=`: how the run ends; `None` lets the kernel choose.
    pub exit: Option<ExitMode>,
    /// `test=`: the self-tests to run.
    pub tests: Option<TestSelection<'a>>,
    /// `crash=`: the deliberate failure to cause.
    pub crash: Option<Crash>,
    /// `smp_wake=`: how APs are woken (`None`: the default, parallel).
    pub smp_wake: Option<WakeStrategy>,
    /// `smp_deadline_ms=`: how long an AP may take to check in.
    pub smp_deadline_ms: Option<u64>,
    /// `smp_skip=`: an APIC id never woken (failure injection).
    pub smp_skip: Option<u32>,
    /// `smp_fake_apic=`: a made-up APIC id added to the CPU list (failure injection).
    pub smp_fake_apic: Option<u32>,
    /// `smp_late=`: an APIC id that checks in after its deadline (failure injection).
    pub smp_late: Option<u32>,
    /// `smp_unlisted=`: an APIC id woken but left out of the trampoline's table (failure
    /// injection: it parks in the trampoline and is sent an NMI).
    pub smp_unlisted: Option<u32>,
    /// `acpi_corrupt_madt`: read the MADT with one byte flipped (failure injection).
    pub acpi_corrupt_madt: bool,
    /// `nosmap`: leave SMAP off even where the CPU has it.
    pub nosmap: bool,
    /// `tsc_calibration=`: how the TSC rate is found (`None`: auto).
    pub tsc_calibration: Option<TscCalibration>,
    /// The benchmark keys.
    pub bench: BenchOptions,
}

impl<'a> Options<'a> {
    /// Stores one validated option: the only place that maps keys to fields.
    fn set(&mut self, key: &str, value: Value<'a>) {
        match (key, value) {
            ("help", Value::Flag) => self.help = true,
            ("exit", Value::Choice(index)) => self.exit = Some(ExitMode::ALL[index]),
            ("test", Value::List(list)) => self.tests = Some(TestSelection::from_list(list)),
            ("crash", Value::Choice(index)) => self.crash = Some(Crash::ALL[index]),
            ("smp_wake", Value::Choice(index)) => self.smp_wake = Some(WakeStrategy::ALL[index]),
            ("smp_deadline_ms", Value::UInt(ms)) => self.smp_deadline_ms = Some(ms),
            ("smp_skip", Value::UInt(id)) => self.smp_skip = Some(id as u32),
            ("smp_fake_apic", Value::UInt(id)) => self.smp_fake_apic = Some(id as u32),
            ("smp_late", Value::UInt(id)) => self.smp_late = Some(id as u32),
            ("smp_unlisted", Value::UInt(id)) => self.smp_unlisted = Some(id as u32),
            ("acpi_corrupt_madt", Value::Flag) => self.acpi_corrupt_madt = true,
            ("nosmap", Value::Flag) => self.nosmap = true,
            ("tsc_calibration", Value::Choice(i)) => {
                self.tsc_calibration = Some(TscCalibration::ALL[i])
            }
            ("bench", Value::List(list)) => self.bench.groups = Some(BenchOptions::select(list)),
            ("bench_samples", Value::UInt(n)) => self.bench.samples = Some(n),
            ("bench_warmup", Value::UInt(n)) => self.bench.warmup = Some(n),
            ("bench_quick", Value::Flag) => self.bench.quick = true,
            ("bench_raw", Value::Flag) => self.bench.raw = true,
            ("bench_deterministic", Value::Flag) => self.bench.deterministic = true,
            ("bench_cpus", Value::UInt(n)) => self.bench.cpus = Some(n),
            ("shootdown_ceiling", Value::UInt(n)) => self.bench.flush_ceiling = Some(n),
            ("pf_variant", Value::List(list)) => {
                self.bench.pf_variants = Some(BenchOptions::select_from(PF_VARIANTS, list))
            }
            ("pf_zero", Value::Choice(i)) => self.bench.pf_zero = Some(i),
            ("pf_fault_around", Value::UInt(n)) => self.bench.pf_fault_around = Some(n),
            ("pf_pool", Value::UInt(n)) => self.bench.pf_pool = Some(n),
            ("pf_break", Value::Choice(i)) => self.bench.pf_break = Some(i),
            ("pf_control", Value::List(list)) => {
                self.bench.pf_controls = Some(BenchOptions::select_from(PF_CONTROLS, list))
            }
            ("shootdown_break", Value::Choice(i)) => {
                self.bench.breakage = Some(ShootdownBreak::ALL[i])
            }
            ("shootdown_ack_delay", Value::UInt(n)) => self.bench.ack_delay = Some(n),
            ("shootdown_never_ack", Value::Flag) => self.bench.never_ack = true,
            ("shootdown_timeout_ms", Value::UInt(n)) => self.bench.timeout_ms = Some(n),
            ("shootdown_protocol", Value::List(list)) => {
                self.bench.protocols = Some(BenchOptions::select_from(SHOOTDOWN_PROTOCOLS, list))
            }
            _ => unreachable!("option '{key}' is in OPTIONS but has no field in Options"),
        }
    }
}

/// A value checked against its option's [`OptKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// A flag was given.
    Flag,
    /// Index of the chosen word in the [`OptKind::Choice`] list.
    Choice(usize),
    /// A number within the [`OptKind::UInt`] range.
    UInt(u64),
    /// A comma-separated list whose every element is a known name or `all`.
    List(&'a str),
}

/// Why a command line was rejected; every variant names the offending word as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdlineError<'a> {
    /// The key is not in [`OPTIONS`].
    UnknownKey {
        /// The whole word.
        word: &'a str,
    },
    /// A flag was given a value (`help=1`).
    FlagWithValue {
        /// The whole word.
        word: &'a str,
        /// The option.
        spec: &'static OptSpec,
    },
    /// An option that needs a value was given none (`exit` or `exit=`).
    MissingValue {
        /// The whole word.
        word: &'a str,
        /// The option.
        spec: &'static OptSpec,
    },
    /// The value is not one of the choices, not a number, or out of range.
    InvalidValue {
        /// The value as typed.
        value: &'a str,
        /// The option.
        spec: &'static OptSpec,
    },
    /// An element of a list is empty or not a known name.
    InvalidListElement {
        /// The element as typed (empty for `a,,b`).
        element: &'a str,
        /// The whole value.
        value: &'a str,
        /// The option.
        spec: &'static OptSpec,
    },
    /// The key appeared before on the same line.
    Duplicate {
        /// The second word with this key.
        word: &'a str,
        /// The option.
        spec: &'static OptSpec,
    },
}

impl fmt::Display for CmdlineError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Words as typed, with control characters and other non-printable characters
        // escaped, so a message on a terminal shows what was really there.
        match *self {
            CmdlineError::UnknownKey { word } => write!(f, "unknown option '{}'", Escaped(word)),
            CmdlineError::FlagWithValue { word, spec } => {
                write!(
                    f,
                    "option '{}' takes no value, got '{}'",
                    spec.key,
                    Escaped(word)
                )
            }
            CmdlineError::MissingValue { word, spec } => write!(
                f,
                "option '{}' needs a value, got '{}' (expected {})",
                spec.key,
                Escaped(word),
                Syntax(spec)
            ),
            CmdlineError::InvalidValue { value, spec } => {
                write!(
                    f,
                    "invalid value '{}' for option '{}' (expected ",
                    Escaped(value),
                    spec.key
                )?;
                write_expected(f, spec.kind)?;
                f.write_str(")")
            }
            CmdlineError::InvalidListElement {
                element,
                value,
                spec,
            } => {
                if element.is_empty() {
                    write!(
                        f,
                        "empty element in '{}' for option '{}'",
                        Escaped(value),
                        spec.key
                    )?;
                } else {
                    write!(
                        f,
                        "unknown element '{}' in '{}' for option '{}'",
                        Escaped(element),
                        Escaped(value),
                        spec.key
                    )?;
                }
                f.write_str(" (expected ")?;
                write_expected(f, spec.kind)?;
                f.write_str(")")
            }
            CmdlineError::Duplicate { word, spec } => {
                write!(
                    f,
                    "option '{}' given twice (again in '{}')",
                    spec.key,
                    Escaped(word)
                )
            }
        }
    }
}

/// A string as typed, with non-printable characters escaped (`\x01`, `\u{85}`).
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                if (c as u32) < 0x80 {
                    write!(f, "\\x{:02x}", c as u32)?;
                } else {
                    write!(f, "\\u{{{:x}}}", c as u32)?;
                }
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Describes the values `kind` accepts, for error messages and help.
fn write_expected(w: &mut impl fmt::Write, kind: OptKind) -> fmt::Result {
    match kind {
        OptKind::Flag => w.write_str("no value"),
        OptKind::Choice(choices) => {
            w.write_str("one of: ")?;
            write_joined(w, choices, ", ")
        }
        OptKind::UInt { min, max } => write!(w, "a number from {min} to {max}"),
        OptKind::List(names) => {
            w.write_str("all, or a comma-separated list of: ")?;
            write_joined(w, names, ", ")
        }
    }
}

fn write_joined(w: &mut impl fmt::Write, words: &[&str], separator: &str) -> fmt::Result {
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            w.write_str(separator)?;
        }
        w.write_str(word)?;
    }
    Ok(())
}

/// The syntax of an option as shown by help: `help`, `exit=qemu|halt`, `n=<0..=8>`,
/// `test=all|<name>,...`.
struct Syntax<'s>(&'s OptSpec);

impl fmt::Display for Syntax<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = self.0;
        f.write_str(spec.key)?;
        match spec.kind {
            OptKind::Flag => Ok(()),
            OptKind::Choice(choices) => {
                f.write_str("=")?;
                write_joined(f, choices, "|")
            }
            OptKind::UInt { min, max } => write!(f, "=<{min}..={max}>"),
            OptKind::List(_) => f.write_str("=all|<name>,..."),
        }
    }
}

/// Width of the syntax column of the help text; a longer syntax is followed by two spaces.
const HELP_SYNTAX_WIDTH: usize = 22;

/// A `fmt::Write` that only counts the bytes written (to align the help columns).
struct CountingWriter(usize);

impl fmt::Write for CountingWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// Prints every option, one per line: two spaces, its syntax, and its help text (with the
/// accepted names for list options).
pub fn write_help(w: &mut impl fmt::Write) -> fmt::Result {
    for spec in OPTIONS {
        let mut syntax_len = CountingWriter(0);
        // Writing to a `CountingWriter` cannot fail.
        let _ = fmt::write(&mut syntax_len, format_args!("{}", Syntax(spec)));
        write!(w, "  {}", Syntax(spec))?;
        for _ in 0..HELP_SYNTAX_WIDTH.saturating_sub(syntax_len.0).max(2) {
            w.write_char(' ')?;
        }
        w.write_str(spec.help)?;
        if let OptKind::List(names) = spec.kind {
            w.write_str(" (names: ")?;
            write_joined(w, names, ", ")?;
            w.write_str(")")?;
        }
        w.write_char('\n')?;
    }
    Ok(())
}

impl OptSpec {
    /// Checks the value given in `word` (`None` for a bare key) against this option's kind.
    pub fn parse_value<'a>(
        &'static self,
        word: &'a str,
        value: Option<&'a str>,
    ) -> Result<Value<'a>, CmdlineError<'a>> {
        let value = match (self.kind, value) {
            (OptKind::Flag, None) => return Ok(Value::Flag),
            (OptKind::Flag, Some(_)) => {
                return Err(CmdlineError::FlagWithValue { word, spec: self });
            }
            (_, None | Some("")) => return Err(CmdlineError::MissingValue { word, spec: self }),
            (_, Some(value)) => value,
        };
        let invalid = CmdlineError::InvalidValue { value, spec: self };
        match self.kind {
            OptKind::Flag => unreachable!("flags return above"),
            OptKind::Choice(choices) => choices
                .iter()
                .position(|&choice| choice == value)
                .map(Value::Choice)
                .ok_or(invalid),
            OptKind::UInt { min, max } => match parse_u64(value) {
                Some(n) if (min..=max).contains(&n) => Ok(Value::UInt(n)),
                _ => Err(invalid),
            },
            OptKind::List(names) => {
                for element in value.split(',') {
                    if element != "all" && !names.contains(&element) {
                        return Err(CmdlineError::InvalidListElement {
                            element,
                            value,
                            spec: self,
                        });
                    }
                }
                Ok(Value::List(value))
            }
        }
    }
}

/// Parses a decimal or `0x`-prefixed hexadecimal number (digits only: no sign, no spaces).
fn parse_u64(text: &str) -> Option<u64> {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Parses a command line; an empty line gives the defaults.
pub fn parse(line: &str) -> Result<Options<'_>, CmdlineError<'_>> {
    let mut options = Options::default();
    let mut seen: u64 = 0;
    for word in line.split_ascii_whitespace() {
        let (key, value) = match word.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (word, None),
        };
        let index = OPTIONS
            .iter()
            .position(|spec| spec.key == key)
            .ok_or(CmdlineError::UnknownKey { word })?;
        let spec = &OPTIONS[index];
        if seen & (1 << index) != 0 {
            return Err(CmdlineError::Duplicate { word, spec });
        }
        seen |= 1 << index;
        options.set(spec.key, spec.parse_value(word, value)?);
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(key: &str) -> &'static OptSpec {
        OPTIONS.iter().find(|spec| spec.key == key).unwrap()
    }

    fn error(line: &str) -> String {
        parse(line).unwrap_err().to_string()
    }

    #[test]
    fn empty_and_whitespace_lines_give_defaults() {
        for line in ["", " ", "\t\n  \r ", "\x0c"] {
            assert_eq!(parse(line), Ok(Options::default()), "{line:?}");
        }
    }

    #[test]
    fn help_flag() {
        assert!(parse("help").unwrap().help);
        assert!(!parse("").unwrap().help);
    }

    #[test]
    fn exit_modes() {
        assert_eq!(parse("exit=qemu").unwrap().exit, Some(ExitMode::Qemu));
        assert_eq!(parse("exit=halt").unwrap().exit, Some(ExitMode::Halt));
        assert_eq!(ExitMode::ALL.len(), ExitMode::NAMES.len());
        for mode in ExitMode::ALL {
            let line = format!("exit={}", mode.name());
            assert_eq!(parse(&line).unwrap().exit, Some(mode), "{line}");
        }
    }

    #[test]
    fn crash_modes() {
        assert_eq!(Crash::ALL.len(), Crash::NAMES.len());
        for crash in Crash::ALL {
            let line = format!("crash={}", crash.name());
            assert_eq!(parse(&line).unwrap().crash, Some(crash), "{line}");
        }
        assert_eq!(
            parse("crash=stack_overflow").unwrap().crash,
            Some(Crash::StackOverflow)
        );
    }

    #[test]
    fn test_all_selects_every_selftest() {
        let tests = parse("test=all").unwrap().tests.unwrap();
        assert_eq!(tests, TestSelection::All);
        assert!(tests.iter().eq(SELFTESTS.iter().copied()));
        assert!(!tests.includes("bogus"));
        assert_eq!(
            parse("test=rodata_nx,all").unwrap().tests,
            Some(TestSelection::All)
        );
    }

    #[test]
    fn test_list_iterates_in_selftest_order_once() {
        let tests = parse("test=alloc_unique,higher_half,alloc_unique")
            .unwrap()
            .tests
            .unwrap();
        assert!(tests.includes("higher_half"));
        assert!(tests.includes("alloc_unique"));
        assert!(!tests.includes("rodata_nx"));
        assert!(!tests.includes("alloc"));
        assert_eq!(
            tests.iter().collect::<Vec<_>>(),
            ["higher_half", "alloc_unique"]
        );
    }

    #[test]
    fn every_option_reaches_a_field() {
        for spec in OPTIONS {
            let line = match spec.kind {
                OptKind::Flag => spec.key.to_string(),
                OptKind::Choice(choices) => format!("{}={}", spec.key, choices[0]),
                OptKind::UInt { min, .. } => format!("{}={min}", spec.key),
                OptKind::List(names) => format!("{}={}", spec.key, names[0]),
            };
            assert_ne!(parse(&line).unwrap(), Options::default(), "{line}");
        }
    }

    #[test]
    fn several_options_with_whitespace_variants() {
        let options =
            parse("  exit=halt\ttest=rodata_nx,higher_half \n crash=hang help\r\n").unwrap();
        assert_eq!(
            options,
            Options {
                help: true,
                exit: Some(ExitMode::Halt),
                tests: Some(TestSelection::List("rodata_nx,higher_half")),
                crash: Some(Crash::Hang),
                ..Options::default()
            }
        );
    }

    #[test]
    fn unknown_key() {
        assert_eq!(error("bogus=1"), "unknown option 'bogus=1'");
        assert_eq!(error("exit=qemu Help"), "unknown option 'Help'");
        assert_eq!(error("=qemu"), "unknown option '=qemu'");
        assert_eq!(
            parse("exits=qemu"),
            Err(CmdlineError::UnknownKey { word: "exits=qemu" })
        );
    }

    #[test]
    fn flag_with_value() {
        assert_eq!(
            parse("help=1"),
            Err(CmdlineError::FlagWithValue {
                word: "help=1",
                spec: spec("help")
            })
        );
        assert_eq!(error("help="), "option 'help' takes no value, got 'help='");
    }

    #[test]
    fn missing_value() {
        assert_eq!(
            error("exit"),
            "option 'exit' needs a value, got 'exit' (expected exit=qemu|halt)"
        );
        assert_eq!(
            parse("test="),
            Err(CmdlineError::MissingValue {
                word: "test=",
                spec: spec("test")
            })
        );
        assert!(matches!(
            parse("crash"),
            Err(CmdlineError::MissingValue { .. })
        ));
    }

    #[test]
    fn invalid_choice() {
        assert_eq!(
            error("exit=sometimes"),
            "invalid value 'sometimes' for option 'exit' (expected one of: qemu, halt)"
        );
        assert_eq!(
            parse("crash=Panic"),
            Err(CmdlineError::InvalidValue {
                value: "Panic",
                spec: spec("crash")
            })
        );
        assert_eq!(
            error("exit=qemu=1"),
            "invalid value 'qemu=1' for option 'exit' (expected one of: qemu, halt)"
        );
    }

    #[test]
    fn invalid_list_elements() {
        assert_eq!(
            parse("test=higher_half,bogus"),
            Err(CmdlineError::InvalidListElement {
                element: "bogus",
                value: "higher_half,bogus",
                spec: spec("test")
            })
        );
        let message = error("test=bogus");
        assert!(
            message.starts_with(
                "unknown element 'bogus' in 'bogus' for option 'test' (expected all, or"
            ),
            "{message}"
        );
        for line in [
            "test=higher_half,,rodata_nx",
            "test=,higher_half",
            "test=higher_half,",
            "test=,",
        ] {
            let err = parse(line).unwrap_err();
            assert!(
                matches!(err, CmdlineError::InvalidListElement { element: "", .. }),
                "{line}"
            );
            assert!(err.to_string().starts_with("empty element in '"), "{err}");
        }
    }

    #[test]
    fn duplicates_are_errors_even_with_equal_values() {
        assert_eq!(
            parse("exit=qemu exit=qemu"),
            Err(CmdlineError::Duplicate {
                word: "exit=qemu",
                spec: spec("exit")
            })
        );
        assert_eq!(
            error("help test=all help"),
            "option 'help' given twice (again in 'help')"
        );
        assert!(matches!(
            parse("crash=hang exit=halt crash=panic"),
            Err(CmdlineError::Duplicate { .. })
        ));
    }

    #[test]
    fn first_error_wins() {
        assert_eq!(error("bogus exit=never"), "unknown option 'bogus'");
    }

    /// `OPTIONS` has no number option yet: check the `UInt` kind through a spec of its own.
    #[test]
    fn uint_values() {
        static CPUS: OptSpec = OptSpec {
            key: "cpus",
            kind: OptKind::UInt { min: 1, max: 512 },
            help: "",
        };
        assert_eq!(CPUS.parse_value("cpus=4", Some("4")), Ok(Value::UInt(4)));
        assert_eq!(
            CPUS.parse_value("cpus=512", Some("512")),
            Ok(Value::UInt(512))
        );
        assert_eq!(
            CPUS.parse_value("cpus=0x10", Some("0x10")),
            Ok(Value::UInt(16))
        );
        for bad in [
            "0",
            "513",
            "+4",
            "-1",
            "4k",
            "0x",
            "99999999999999999999999",
        ] {
            let err = CPUS.parse_value("cpus=?", Some(bad)).unwrap_err();
            assert_eq!(
                err,
                CmdlineError::InvalidValue {
                    value: bad,
                    spec: &CPUS
                }
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "invalid value '{bad}' for option 'cpus' (expected a number from 1 to 512)"
                )
            );
        }
        assert!(matches!(
            CPUS.parse_value("cpus", None),
            Err(CmdlineError::MissingValue { .. })
        ));
        assert_eq!(Syntax(&CPUS).to_string(), "cpus=<1..=512>");
    }

    #[test]
    fn help_lists_every_option_on_its_own_line() {
        let mut help = String::new();
        write_help(&mut help).unwrap();
        let lines: Vec<&str> = help.lines().collect();
        assert_eq!(lines.len(), OPTIONS.len());
        for (line, spec) in lines.iter().zip(OPTIONS) {
            assert!(line.starts_with(&format!("  {}", Syntax(spec))), "{line}");
            assert!(line.contains(spec.help), "{line}");
        }
        assert!(help.contains("  exit=qemu|halt "), "{help}");
        assert!(help.contains(
            "  crash=panic|pagefault|stack_overflow|triple_fault|hang|no_end|ap_stack_overflow "
        ));
        for name in SELFTESTS {
            assert!(help.contains(name), "{name} missing from help");
        }
        // Help texts start in one column, after syntax too long for it.
        for (line, spec) in lines.iter().zip(OPTIONS) {
            let syntax = format!("  {}  ", Syntax(spec));
            let help_column = line.find(spec.help).unwrap();
            assert_eq!(
                help_column,
                (2 + HELP_SYNTAX_WIDTH).max(syntax.len()),
                "{line}"
            );
        }
    }
}

#[cfg(test)]
mod bench_option_tests {
    use super::*;

    #[test]
    fn bench_keys() {
        let e = parse("test=all\x01").unwrap_err().to_string();
        assert!(e.contains("'all\\x01'"), "{e}");
        let o = parse("bench=pf,shootdown bench_samples=50 bench_quick shootdown_break=leave_out")
            .unwrap();
        let at = |name: &str| BENCHES.iter().position(|b| *b == name).unwrap();
        assert!(o.bench.selected(at("pf")) && o.bench.selected(at("shootdown")));
        assert!(!o.bench.selected(at("floors")) && !o.bench.selected(at("pf_throughput")));
        assert!(!o.bench.selected(at("shootdown_oracle")));
        assert_eq!(o.bench.samples, Some(50));
        assert!(o.bench.quick);
        assert_eq!(o.bench.breakage, Some(ShootdownBreak::LeaveOut));
        let all = parse("bench=all").unwrap();
        assert!((0..BENCHES.len()).all(|i| all.bench.selected(i)));
        let none = parse("").unwrap();
        assert!(none.bench.groups.is_none() && none.bench.selected(7));
        // Fault controls: every one but the negative control unless listed.
        let at = |name: &str| PF_CONTROLS.iter().position(|c| *c == name).unwrap();
        assert!(none.bench.pf_control_selected(at("cas")));
        assert!(!none.bench.pf_control_selected(at("none")));
        let neg = parse("pf_control=none,table").unwrap();
        assert!(neg.bench.pf_control_selected(at("none")));
        assert!(!neg.bench.pf_control_selected(at("space")));
        // Fault variants: all unless listed.
        let v = parse("pf_variant=huge_2m").unwrap();
        assert!(v.bench.pf_variant_selected(3) && !v.bench.pf_variant_selected(0));
        assert!(none.bench.pf_variant_selected(5));
    }

    #[test]
    fn bad_bench_values_are_refused() {
        assert!(parse("bench=nosuch").is_err());
        assert!(parse("bench_samples=0").is_err());
        assert!(parse("bench_samples=100001").is_err());
        assert!(parse("shootdown_break=sometimes").is_err());
        assert!(parse("bench_cpus=513").is_err());
        assert!(parse("shootdown_protocol=tlbi").is_err());
        assert!(parse("shootdown_protocol=").is_err());
    }

    #[test]
    fn protocol_selection() {
        let o = parse("shootdown_protocol=linux,lazy_epoch").unwrap();
        let picked: Vec<&str> = (0..SHOOTDOWN_PROTOCOLS.len())
            .filter(|&i| o.bench.protocol_selected(i))
            .map(|i| SHOOTDOWN_PROTOCOLS[i])
            .collect();
        assert_eq!(picked, ["linux", "lazy_epoch"]);
        let all = parse("shootdown_protocol=all").unwrap();
        assert!((0..SHOOTDOWN_PROTOCOLS.len()).all(|i| all.bench.protocol_selected(i)));
        assert!(parse("").unwrap().bench.protocol_selected(7));
    }

    #[test]
    fn breaks_apply_to_their_protocols() {
        for p in SHOOTDOWN_PROTOCOLS {
            assert!(ShootdownBreak::None.applies_to(p));
            assert!(ShootdownBreak::SkipLocal.applies_to(p));
        }
        assert!(ShootdownBreak::EarlyReturn.applies_to("early_ack"));
        assert!(!ShootdownBreak::EarlyReturn.applies_to("sync"));
        assert!(ShootdownBreak::SkipCatchup.applies_to("linux"));
        assert!(!ShootdownBreak::SkipCatchup.applies_to("lazy_epoch"));
        assert!(ShootdownBreak::RecycleEarly.applies_to("lazy_epoch"));
        assert!(ShootdownBreak::RecycleEarly.applies_to("deferred"));
        assert!(!ShootdownBreak::RecycleEarly.applies_to("sync"));
        assert!(!ShootdownBreak::SkipInvlpg.applies_to("invlpgb"));
        // Every break applies to at least one protocol.
        for b in ShootdownBreak::ALL {
            assert!(
                SHOOTDOWN_PROTOCOLS.iter().any(|p| b.applies_to(p)),
                "{}",
                b.name()
            );
        }
        assert_eq!(ShootdownBreak::ALL.len(), ShootdownBreak::NAMES.len());
    }
}
