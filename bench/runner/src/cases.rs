//! The in-QEMU test matrix: every case in one table, and the check that decides whether a run
//! met a case's expectation.

use crate::outcome::OutcomeKind;
use crate::records::{self, Record};
use crate::run::RunReport;
use crate::vm::{Accel, Boot, Firmware, Machine, VmConfig};

/// The kernel's self-tests, as selected by `test=all`. A `test=all` run must print a passing
/// `test` record for each of these (more are fine). The list is the kernel's own table.
pub const KERNEL_TESTS: &[&str] = kernel_core::cmdline::SELFTESTS;

/// Fields the `context` record must carry (DESIGN.md).
pub const CONTEXT_FIELDS: &[&str] = &[
    "git_rev",
    "cpu_vendor",
    "cpu_model",
    "tsc_hz",
    "tsc_source",
    "invariant_tsc",
    "hypervisor",
    "cpus_found",
    "cpus_possible",
    "cpus_online",
    "memory_bytes",
    "cmdline",
];

/// A check on a run's records: Err names what was expected and what came.
pub type RecordsCheck = fn(&[Record]) -> Result<(), String>;

#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub vm: VmConfig,
    pub kernel_args: Vec<String>,
    pub expect: OutcomeKind,
    /// Substrings the console must contain.
    pub console_contains: Vec<&'static str>,
    /// Record fields the `context` record must carry (empty: no check).
    pub context_fields: &'static [&'static str],
    /// In the CI set (`runner test`); otherwise only in the full matrix (`runner test --all`).
    pub ci: bool,
    /// Extra QEMU arguments (after the VM's own).
    pub qemu_args: Vec<String>,
    /// Benchmark runs: every `result` record must carry RESULT_FIELDS, each of these benches
    /// must have at least one result, and every `check` record must pass except those in
    /// `failing_checks`, which must be present and fail.
    pub benches: &'static [&'static str],
    /// An entry ending in `*` is a prefix: every check whose name starts with it must fail,
    /// and at least one must exist (see `check_matches`).
    pub failing_checks: &'static [&'static str],
    /// Needs real TLB behaviour: skipped on a software KVM backend whose shadow MMU
    /// resynchronises on every guest PTE write (no stale translation exists to catch).
    pub needs_hardware_tlb: bool,
    /// Substrings the benchmark report (`summary.md`, written from the case's results folder
    /// after the run) must contain; empty: no report is written.
    pub report_contains: Vec<&'static str>,
    /// A check on the run's records beyond the above (e.g. the deterministic mode's exact
    /// cross-CPU figures, `icount::check`).
    pub records_check: Option<RecordsCheck>,
    /// Write the report and check the tidy files: results.csv (a row per result),
    /// summary.json, and samples.csv.gz agreeing with every result (the case runs with
    /// `bench_raw`).
    pub tidy: bool,
    /// Save the screen at the end through QEMU's monitor and compare it with the end-of-run
    /// summary the console printed.
    pub screen: Option<crate::screen::Kind>,
    /// Boot the Linux baseline (Debian's pinned kernel, the initramfs with linux-bench)
    /// instead of our kernel; `kernel_args` are the benchmark's words.
    pub linux: bool,
    /// QEMU (the VM of `vm`) or Bochs (`vm.cpu` is the Bochs model, `vm.smp` the CPU count,
    /// `vm.memory` and `vm.timeout` apply; the rest is QEMU's).
    pub emulator: crate::bochs::Emulator,
}

/// Whether the host's KVM is the software backend (kvm_pvm) rather than VT-x/AMD-V.
pub fn software_kvm() -> bool {
    std::path::Path::new("/sys/module/kvm_pvm").exists()
}

/// Fields every `result` record must carry (DESIGN.md).
pub const RESULT_FIELDS: &[&str] = &[
    "bench", "kind", "params", "unit", "n", "warmup", "min", "p50", "p90", "p99", "p999", "max",
    "mean", "stddev", "hist",
];
/// The `_ns` figures a result in cycles carries (outside the deterministic mode): the
/// report's own list.
pub const RESULT_NS_FIELDS: &[&str] = &bench_report::model::NS_FIELDS;
/// Results a quick run of the whole suite must produce (on 2 or more CPUs): a bench name,
/// then `key=value` params the result must carry (see [`bench_matches`]).
pub const SUITE_BENCHES: &[&str] = &[
    "tsc_overhead",
    "exception_roundtrip",
    "zero_page",
    "pte_write",
    "invlpg",
    "flush_cr3",
    "flush_global",
    "percpu_read_gs",
    "percpu_read_array",
    "ipi_roundtrip",
    "syscall_roundtrip",
    "exception_roundtrip_user",
    "pf_kernel access=write variant=demand_zero part=total",
    "pf_kernel access=write variant=demand_zero part=handler",
    "pf_kernel access=write variant=demand_zero part=trap",
    "pf_kernel access=read variant=zero_page part=total",
    "pf_user access=write variant=demand_zero part=total",
    "pf_user access=write variant=demand_zero part=handler",
    "pf_user access=write variant=demand_zero part=trap",
    "pf_user access=read variant=zero_page part=total",
    "pf_kernel variant=pt_on_demand part=total",
    "pf_kernel variant=huge_2m page=2097152 part=total",
    "pf_kernel variant=prezeroed part=total",
    "pf_kernel variant=fault_around part=total",
    "pf_user variant=pt_on_demand part=total",
    "pf_user variant=huge_2m page=2097152 part=total",
    "pf_user variant=prezeroed part=total",
    "pf_user variant=fault_around part=total",
    "pf_contention control=space cpus=2",
    "pf_contention control=table cpus=2",
    "pf_contention control=cas cpus=2",
    "pf_contention_rate control=region cpus=2",
    "pf_throughput",
    "shootdown",
    "shootdown_phases",
    "shootdown_topology",
    "shootdown_oracle",
];

/// Every per-configuration check of the shootdown oracle (protocol × delivery × space ×
/// pages × variant): under a broken variant each one must fail.
pub const ORACLE_CHECKS: &str = "shootdown_oracle_no_stale_reads/*";

const G: u64 = 1 << 30;
const M: u64 = 1 << 20;

fn vm(accel: Accel, machine: Machine, memory: u64, firmware: Firmware, smp: u32) -> VmConfig {
    VmConfig {
        accel,
        machine,
        cpu: None,
        smp,
        memory,
        firmware,
        boot: Boot::Kernel,
        timeout: None,
    }
}

/// The small quick VM for behaviour cases (crashes, command line): TCG, q35, qboot, 128M.
fn small() -> VmConfig {
    vm(Accel::Tcg, Machine::Q35, 128 * M, Firmware::Qboot, 2)
}

pub(crate) fn case(name: &str, vm: VmConfig, args: &[&str], expect: OutcomeKind) -> Case {
    Case {
        name: name.to_string(),
        vm,
        kernel_args: args.iter().map(|s| s.to_string()).collect(),
        expect,
        console_contains: Vec::new(),
        context_fields: &[],
        ci: true,
        qemu_args: Vec::new(),
        benches: &[],
        failing_checks: &[],
        report_contains: Vec::new(),
        records_check: None,
        tidy: false,
        screen: None,
        linux: false,
        needs_hardware_tlb: false,
        emulator: crate::bochs::Emulator::Qemu,
    }
}

fn selftest(accel: Accel, machine: Machine, memory: u64, firmware: Firmware, ci: bool) -> Case {
    let name = format!(
        "selftests-{}-{}-{}-{}",
        accel.name(),
        machine.name(),
        firmware.name(),
        crate::vm::size_label(memory)
    );
    let mut c = case(
        &name,
        vm(accel, machine, memory, firmware, 2),
        &["test=all"],
        OutcomeKind::Pass,
    );
    c.ci = ci;
    c
}

/// The self-tests booted through GRUB with Multiboot2 (TCG, SeaBIOS: qboot cannot boot a CD). The
/// console must show the protocol the kernel saw. The q35 1G case is `grub-multiboot2-selftests`;
/// others carry their machine and memory in the name.
fn grub_selftest(machine: Machine, memory: u64, ci: bool) -> Case {
    let name = match (machine, memory) {
        (Machine::Q35, G) => "grub-multiboot2-selftests".to_string(),
        _ => format!(
            "grub-multiboot2-selftests-{}-{}",
            machine.name(),
            crate::vm::size_label(memory)
        ),
    };
    let mut grub = vm(Accel::Tcg, machine, memory, Firmware::SeaBios, 2);
    grub.boot = Boot::Grub;
    let mut c = case(&name, grub, &["test=all"], OutcomeKind::Pass);
    c.console_contains = vec!["protocol Multiboot2"];
    c.ci = ci;
    c
}

/// Every case, CI set and full matrix, in run order.
pub fn all_cases() -> Vec<Case> {
    let mut cases = boot_cases();
    cases.extend(suite_cases());
    cases.extend(oracle_cases());
    cases.extend(fault_variant_cases());
    cases.extend(tsc_cases());
    cases.extend(linux_cases());
    cases.extend(cli_and_crash_cases());
    cases.extend(run_control_cases());
    cases.extend(smp_cases());
    cases.extend(crate::bochs::cases());
    cases
}

/// The cases of the self-tests on every machine, memory size and firmware, through QEMU's loader
/// and GRUB, and the bare-metal image.
fn boot_cases() -> Vec<Case> {
    use Accel::{Kvm, Tcg};
    use Firmware::{Qboot, SeaBios};
    use Machine::{Pc, Q35};
    let mut cases = vec![
        selftest(Tcg, Q35, G, SeaBios, true),
        selftest(Tcg, Pc, 128 * M, Qboot, true),
        selftest(Tcg, Q35, 5 * G, Qboot, true),
        // KVM here is a software backend where every frame-allocator step costs a VM exit
        // (about 0.2 ms per frame): 128 MiB keeps alloc_unique's exhaustive pass short.
        selftest(Kvm, Q35, 128 * M, Qboot, true),
    ];
    for machine in [Q35, Pc] {
        for memory in [128 * M, G, 5 * G] {
            for firmware in [SeaBios, Qboot] {
                let c = selftest(Tcg, machine, memory, firmware, false);
                if !cases.iter().any(|k| k.name == c.name) {
                    cases.push(c);
                }
            }
        }
    }
    cases.push(selftest(Kvm, Pc, 128 * M, SeaBios, false));
    let mut big = selftest(Kvm, Q35, G, SeaBios, false);
    big.vm.timeout = Some(180.0);
    cases.push(big);
    cases.push(grub_selftest(Q35, G, true));
    cases.push(grub_selftest(Pc, 128 * M, false));
    // The bare-metal image (`just image`) through the real GRUB path, legacy BIOS and UEFI:
    // its quick-suite entry runs every workload and its records parse.
    for fw in [SeaBios, Firmware::Ovmf] {
        let mut v = vm(Tcg, Q35, G, fw.clone(), 2);
        v.boot = Boot::Image(crate::grub::Entry::Quick);
        v.timeout = Some(120.0);
        let mut c = case(
            &format!("image-{}-quick", fw.name()),
            v,
            &[],
            OutcomeKind::Pass,
        );
        c.console_contains = vec!["protocol Multiboot2"];
        c.context_fields = CONTEXT_FIELDS;
        c.benches = SUITE_BENCHES;
        // What the screen shows at the end, read by the host through QEMU's monitor: the VGA
        // text buffer under BIOS, a screenshot of the GOP framebuffer under UEFI.
        c.screen = Some(match fw {
            SeaBios => crate::screen::Kind::VgaText,
            _ => crate::screen::Kind::Framebuffer,
        });
        cases.push(c);
    }
    cases
}

/// The cases of the default job, the whole benchmark suite: quick, with an AP missing, without NX.
fn suite_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // The default job is the whole benchmark suite: in CI its quick form (every kind of
    // workload, fewer samples), in the full matrix as a user runs it.
    let mut c = case(
        "bench-quick-tcg",
        small(),
        &["bench_quick", "bench_raw"],
        OutcomeKind::Pass,
    );
    c.context_fields = CONTEXT_FIELDS;
    c.benches = SUITE_BENCHES;
    c.tidy = true;
    cases.push(c);
    // The deterministic mode's cross-CPU figures (issue: deterministic cross-CPU costs): on
    // 4 CPUs, the sweep's curve over 1..3 targets and the ack-delay calibration, checked by
    // `icount::check` (exact and growing; a delay of D moves the median by D ± 2 %).
    let mut v = small();
    v.accel = Accel::Icount;
    v.smp = 4;
    let mut c = case(
        "icount-curve-smp4",
        v,
        &[
            "bench=shootdown,shootdown_phases",
            "bench_samples=12",
            "bench_warmup=2",
            "shootdown_protocol=sync,linux,lazy_epoch",
        ],
        OutcomeKind::Pass,
    );
    c.benches = &["shootdown", "shootdown_ack_delay", "shootdown_phases"];
    c.records_check = Some(crate::icount::check);
    c.vm.timeout = Some(600.0);
    cases.push(c);
    // Online CPUs are a set: with one AP never woken, the whole quick suite runs on the CPUs
    // that are online (every bench present, every check passing), at several sizes.
    for (smp, skip, ci) in [
        (3u32, "smp_skip=1", true),
        (5, "smp_skip=2", false),
        (4, "smp_skip=3", false),
    ] {
        let mut v = small();
        v.smp = smp;
        let mut c = case(
            &format!("bench-quick-ap-missing-smp{smp}"),
            v,
            &["bench_quick", skip, "smp_deadline_ms=300"],
            OutcomeKind::Pass,
        );
        c.benches = SUITE_BENCHES;
        c.console_contains = vec!["did not check in"];
        // More vCPUs than host cores: each shootdown can cost a host time slice.
        c.vm.timeout = Some(600.0);
        c.ci = ci;
        cases.push(c);
    }
    // A CPU without NX (as with a BIOS that hides the XD bit): the suite runs (no XD bit in
    // any entry the kernel writes), the NX self-test skips with the reason.
    let mut v = small();
    v.cpu = Some("max,-nx".into());
    let mut c = case(
        "bench-quick-no-nx",
        v.clone(),
        &["bench_quick"],
        OutcomeKind::Pass,
    );
    c.benches = SUITE_BENCHES;
    cases.push(c);
    // (rodata_nx reports `skip` there, which a TCG case does not accept: the tests whose
    // mappings carry XD elsewhere run instead.)
    let c = case(
        "no-nx-selftests",
        v,
        &["test=identity_gone,mmio_uncached,user_mode,smap_smep"],
        OutcomeKind::Pass,
    );
    cases.push(c);
    // Made-up APIC ids the machine cannot have are refused (never sent INIT): the BSP's own.
    let mut c = case(
        "smp-fake-apic-bsp-refused",
        small(),
        &["test=smp_all_online", "smp_fake_apic=0"],
        OutcomeKind::Pass,
    );
    c.console_contains = vec!["made-up APIC id 0 refused: it is the BSP's own APIC id"];
    cases.push(c);
    let mut c = case("default-job", small(), &[], OutcomeKind::Pass);
    c.context_fields = CONTEXT_FIELDS;
    c.benches = SUITE_BENCHES;
    c.vm.timeout = Some(600.0);
    c.ci = false;
    cases.push(c);
    cases
}

/// The cases of the shootdown oracle: correct runs pass, broken ones are caught, acks are waited
/// for.
fn oracle_cases() -> Vec<Case> {
    use Accel::{Kvm, Tcg};
    let mut cases = Vec::new();
    // The shootdown oracle: correct runs pass, deliberately broken ones are caught, the
    // benchmark provably waits for acks, and a target that never acks ends the run.
    for (accel, ci) in [(Tcg, true), (Kvm, true)] {
        let mut vm = small();
        vm.accel = accel;
        vm.smp = 3;
        let tag = accel.name();
        // Up to 21 configurations per protocol (two spaces × three deliveries × 1, 8 pages
        // and a full flush, the writer variant, the user PDE variant), seven protocols here;
        // the software KVM takes ~10 ms per shootdown with 3 vCPUs on 2 cores, so fewer
        // samples there.
        let base: &[&'static str] = if accel == Kvm {
            &[
                "bench=shootdown_oracle",
                "bench_samples=10",
                "bench_warmup=2",
            ]
        } else {
            &[
                "bench=shootdown_oracle",
                "bench_samples=50",
                "bench_warmup=5",
            ]
        };
        for (name, extra, expect, failing) in [
            ("correct", None, OutcomeKind::Pass, &[][..]),
            (
                "skip-invlpg",
                Some("shootdown_break=skip_invlpg"),
                OutcomeKind::TestFailed,
                &[ORACLE_CHECKS][..],
            ),
            (
                "leave-out",
                Some("shootdown_break=leave_out"),
                OutcomeKind::TestFailed,
                &[ORACLE_CHECKS][..],
            ),
            (
                "skip-local",
                Some("shootdown_break=skip_local"),
                OutcomeKind::TestFailed,
                &[ORACLE_CHECKS][..],
            ),
            // The protocols' own negative controls (the oracle runs each on the protocols it
            // applies to): early_ack returning before its invalidation, linux's lazy CPU
            // switching back without catching up, lazy_epoch and deferred recycling frames
            // before their reclaim point.
            (
                "early-return",
                Some("shootdown_break=early_return"),
                OutcomeKind::TestFailed,
                &[ORACLE_CHECKS][..],
            ),
            (
                "skip-catchup",
                Some("shootdown_break=skip_catchup"),
                OutcomeKind::TestFailed,
                &[ORACLE_CHECKS][..],
            ),
            (
                "recycle-early",
                Some("shootdown_break=recycle_early"),
                OutcomeKind::TestFailed,
                &[ORACLE_CHECKS][..],
            ),
            // The initiator waits for its acks: `sync` is enough to show it (the other
            // protocols that wait share its transport).
            (
                "ack-delay",
                Some("shootdown_ack_delay=300000 shootdown_protocol=sync"),
                OutcomeKind::Pass,
                &[][..],
            ),
        ] {
            let mut args: Vec<&str> = base.to_vec();
            args.extend(extra.into_iter().flat_map(|e| e.split(' ')));
            let mut c = case(
                &format!("shootdown-oracle-{name}-{tag}"),
                vm.clone(),
                &args,
                expect,
            );
            c.benches = &["shootdown_oracle"];
            c.failing_checks = failing;
            c.vm.timeout = Some(if accel == Kvm { 900.0 } else { 300.0 });
            if accel == Kvm && !failing.is_empty() {
                c.needs_hardware_tlb = true;
            }
            if name == "ack-delay" {
                c.console_contains = vec!["\"name\":\"shootdown_waits_for_acks\",\"pass\":true"];
            }
            c.ci = ci;
            cases.push(c);
        }
        let mut c = case(
            &format!("shootdown-oracle-never-ack-{tag}"),
            vm.clone(),
            &[
                "bench=shootdown_oracle",
                "shootdown_never_ack",
                "shootdown_timeout_ms=200",
            ],
            OutcomeKind::TestFailed,
        );
        c.console_contains = vec!["never acknowledged"];
        c.ci = ci;
        cases.push(c);
    }
    // Targets by topology on a 2-socket, 2-node machine (QEMU -smp sockets=2,cores=2 and
    // -numa with a SLIT distance of 21): every CPUID class the machine has and both NUMA
    // classes produce results, with the distance in their params; phases and the cost to the
    // interrupted target too.
    let mut vm4 = small();
    vm4.smp = 4;
    vm4.memory = 1 << 30;
    let mut c = case(
        "shootdown-topology-numa-tcg",
        vm4,
        &[
            "bench=shootdown_phases,shootdown_topology",
            "bench_samples=30",
            "bench_warmup=3",
            "shootdown_protocol=sync,lazy_epoch",
        ],
        OutcomeKind::Pass,
    );
    c.qemu_args = [
        "-smp",
        "4,sockets=2,cores=2,threads=1",
        "-object",
        "memory-backend-ram,id=m0,size=512M",
        "-object",
        "memory-backend-ram,id=m1,size=512M",
        "-numa",
        "node,cpus=0-1,nodeid=0,memdev=m0",
        "-numa",
        "node,cpus=2-3,nodeid=1,memdev=m1",
        "-numa",
        "dist,src=0,dst=1,val=21",
    ]
    .map(String::from)
    .to_vec();
    c.benches = &[
        "shootdown_topology target_set=same_llc",
        "shootdown_topology target_set=other_package",
        "shootdown_topology target_set=same_node",
        "shootdown_topology target_set=other_node node_distance=21",
        "shootdown_phases phase=deliver",
        "shootdown_target_cost",
    ];
    c.console_contains = vec![r#""numa_nodes":2"#];
    c.vm.timeout = Some(300.0);
    cases.push(c);
    cases
}

/// The cases of the TSC rate from each fixed timer, and a source the machine lacks.
fn tsc_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // The TSC rate from each fixed timer (the path of machines whose CPUID states no rate),
    // and a source the machine lacks: an error record, then the usual way.
    for (src, arg, want) in [
        ("hpet", "tsc_calibration=hpet", "\"tsc_source\":\"hpet\""),
        (
            "pm_timer",
            "tsc_calibration=pm_timer",
            "\"tsc_source\":\"acpi_pm_timer\"",
        ),
        ("pit", "tsc_calibration=pit", "\"tsc_source\":\"pit\""),
    ] {
        let mut c = case(
            &format!("tsc-calibration-{src}"),
            small(),
            &[arg, "test=tsc_calibration"],
            OutcomeKind::Pass,
        );
        c.console_contains = vec![want];
        cases.push(c);
    }
    let mut c = case(
        "tsc-calibration-missing-source",
        small(),
        &["tsc_calibration=cpuid", "test=tsc_calibration"],
        OutcomeKind::Pass,
    );
    c.console_contains = vec![
        "tsc_calibration=cpuid: this machine has no such source",
        "\"type\":\"error\"",
    ];
    cases.push(c);
    cases
}

/// The cases of the Linux baseline on the same kind of VM.
fn linux_cases() -> Vec<Case> {
    use Accel::Tcg;
    use Firmware::Qboot;
    use Machine::Q35;
    let mut cases = Vec::new();
    // The Linux baseline on the same kind of VM: its initramfs program runs every workload to
    // the end with few samples, every record parses and carries its fields.
    let mut v = vm(Tcg, Q35, G, Qboot, 2);
    v.timeout = Some(180.0);
    let mut c = case(
        "linux-baseline-quick-tcg",
        v,
        &["bench_quick", "bench_samples=20", "bench_warmup=2"],
        OutcomeKind::Pass,
    );
    c.linux = true;
    c.benches = &[
        "syscall_roundtrip",
        "ipi_roundtrip",
        "pf_user access=write part=total",
        "pf_user access=read part=total",
        "pf_throughput",
        "shootdown",
    ];
    c.context_fields = CONTEXT_FIELDS;
    cases.push(c);
    cases
}

/// The page-fault variants (`pf_variant=`): every variant's page checks pass in the
/// deterministic mode too, and the pre-zeroed pool's audit catches a poisoned frame (its
/// negative control) under TCG and in the deterministic mode; out-of-range values are
/// refused by the kernel's parser.
fn fault_variant_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut v = small();
    v.accel = Accel::Icount;
    let mut c = case(
        "pf-variants-icount",
        v,
        &["bench=pf", "bench_samples=40", "bench_warmup=2"],
        OutcomeKind::Pass,
    );
    c.benches = &["pf_kernel", "pf_user"];
    c.console_contains = vec![
        "\"name\":\"pf_pages_checked/user/write/huge_2m\",\"pass\":true",
        "\"name\":\"pf_pool_audit/kernel\",\"pass\":true",
    ];
    cases.push(c);
    for accel in [Accel::Tcg, Accel::Icount] {
        let mut v = small();
        v.accel = accel;
        let mut c = case(
            &format!("pf-poison-pool-{}", accel.name()),
            v,
            &[
                "bench=pf",
                "pf_variant=prezeroed",
                "pf_break=poison_pool",
                "pf_zero=movnti",
                "bench_samples=40",
                "bench_warmup=2",
            ],
            OutcomeKind::TestFailed,
        );
        c.benches = &["pf_kernel", "pf_user"];
        c.failing_checks = &[
            "pf_pool_audit/*",
            "pf_pages_checked/kernel/write/prezeroed",
            "pf_pages_checked/user/write/prezeroed",
        ];
        cases.push(c);
    }
    // Faults of several CPUs in one address space: every control keeps each page mapped once
    // (exactly, in the deterministic mode), and without a lock (`none`, the negative control)
    // CPUs faulting one page at once map it twice: caught under TCG with 4 vCPUs.
    let mut v = small();
    v.smp = 4;
    let mut c = case(
        "pf-contention-tcg-smp4",
        v.clone(),
        &["bench=pf_contention", "bench_quick", "pf_control=all"],
        OutcomeKind::TestFailed,
    );
    c.benches = &[
        "pf_contention control=space cpus=4",
        "pf_contention_rate control=cas cpus=4",
    ];
    c.failing_checks = &["pf_contention_mapped_once/none"];
    cases.push(c);
    v.accel = Accel::Icount;
    let mut c = case(
        "pf-contention-icount-smp4",
        v,
        &["bench=pf_contention", "bench_quick"],
        OutcomeKind::Pass,
    );
    c.benches = &["pf_contention control=table cpus=4"];
    cases.push(c);
    let mut c = case(
        "bad-cmdline-fault-around",
        small(),
        &["bench=pf", "pf_fault_around=1"],
        OutcomeKind::BadCmdline,
    );
    c.console_contains = vec!["pf_fault_around"];
    cases.push(c);
    cases
}

/// The cases of the command line's help and errors, and every crash the kernel reports.
fn cli_and_crash_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut c = case("help", small(), &["help"], OutcomeKind::Pass);
    c.console_contains = vec!["exit=", "test=", "crash="];
    cases.push(c);

    let mut c = case(
        "bad-cmdline-unknown-key",
        small(),
        &["bogus=1"],
        OutcomeKind::BadCmdline,
    );
    c.console_contains = vec!["unknown option 'bogus=1'", "exit="];
    cases.push(c);

    let mut c = case(
        "bad-cmdline-bad-value",
        small(),
        &["exit=sometimes"],
        OutcomeKind::BadCmdline,
    );
    c.console_contains = vec!["invalid value 'sometimes'"];
    cases.push(c);

    let mut c = case(
        "bad-cmdline-unknown-protocol",
        small(),
        &["bench=shootdown", "shootdown_protocol=sync,tlbi"],
        OutcomeKind::BadCmdline,
    );
    c.console_contains = vec!["unknown element 'tlbi'", "shootdown_protocol"];
    cases.push(c);

    let mut c = case("crash-panic", small(), &["crash=panic"], OutcomeKind::Panic);
    c.console_contains = vec!["panicked at"];
    cases.push(c);

    let mut c = case(
        "crash-pagefault",
        small(),
        &["crash=pagefault"],
        OutcomeKind::Exception,
    );
    c.console_contains = vec!["page fault", "backtrace:"];
    cases.push(c);

    let mut c = case(
        "crash-stack-overflow",
        small(),
        &["crash=stack_overflow"],
        OutcomeKind::Exception,
    );
    c.console_contains = vec!["double fault"];
    cases.push(c);

    cases.push(case(
        "crash-triple-fault",
        small(),
        &["crash=triple_fault"],
        OutcomeKind::Reset,
    ));
    cases
}

/// The cases of runs that hang or never finish: killed at the timeout, results kept.
fn run_control_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // A benchmark run that hangs mid-way (a shootdown target that never acknowledges, with
    // the initiator told to wait ten minutes): QEMU is killed at the timeout, the floors'
    // results that arrived are kept and the report says the run is incomplete.
    let mut hang = small();
    hang.timeout = Some(8.0);
    let mut c = case(
        "bench-hang-keeps-results",
        hang,
        &[
            "bench=floors,shootdown_oracle",
            "bench_samples=50",
            "bench_warmup=5",
            "shootdown_never_ack",
            "shootdown_timeout_ms=600000",
        ],
        OutcomeKind::Timeout,
    );
    c.benches = &["tsc_overhead", "exception_roundtrip", "invlpg"];
    c.report_contains = vec![
        "Incomplete run: no `end` record (runner: timeout after 8 s",
        "| tsc_overhead |",
    ];
    cases.push(c);

    let mut hang = small();
    hang.timeout = Some(5.0);
    cases.push(case(
        "crash-hang",
        hang,
        &["crash=hang"],
        OutcomeKind::Timeout,
    ));

    cases.push(case(
        "crash-no-end",
        small(),
        &["crash=no_end"],
        OutcomeKind::Incomplete,
    ));
    cases
}

/// The SMP self-tests: every CPU online with its own window, ids right through GS and
/// remotely, each AP's own checks (lower half empty, APIC id, kernel CR3).
const SMP_TESTS: &str = "test=smp_all_online,percpu_isolation,ap_self_checks";
/// The same without `smp_all_online`, for runs where a CPU is missing on purpose.
const SMP_STATE_TESTS: &str = "test=percpu_isolation,ap_self_checks";

/// SMP bring-up at every size of the issue, both wake strategies, and failure injection.
fn smp_cases() -> Vec<Case> {
    use Accel::{Kvm, Tcg};
    use Firmware::Qboot;
    use Machine::{Pc, Q35};
    let mut cases = Vec::new();
    let mut smp = |name: String,
                   mut vm: VmConfig,
                   cpu: Option<&str>,
                   args: &[&'static str],
                   expect: OutcomeKind,
                   contains: Vec<&'static str>,
                   ci: bool| {
        vm.cpu = cpu.map(str::to_string);
        let mut c = case(&name, vm, args, expect);
        c.console_contains = contains;
        c.ci = ci;
        cases.push(c);
    };
    for n in [1, 2, 3, 4, 8, 64] {
        smp(
            format!("smp-tcg-q35-{n}"),
            vm(Tcg, Q35, G, Qboot, n),
            None,
            &[SMP_TESTS],
            OutcomeKind::Pass,
            vec![],
            true,
        );
    }
    smp(
        "smp-tcg-q35-8-serial".into(),
        vm(Tcg, Q35, G, Qboot, 8),
        None,
        &[SMP_TESTS, "smp_wake=serial"],
        OutcomeKind::Pass,
        vec!["serial wake-up"],
        true,
    );
    smp(
        "smp-tcg-pc-xapic-255".into(),
        vm(Tcg, Pc, G, Qboot, 255),
        Some("qemu64"),
        &[SMP_TESTS],
        OutcomeKind::Pass,
        vec!["255 of 255 CPUs online", "xAPIC mode"],
        true,
    );
    smp(
        "smp-tcg-q35-x2apic-512".into(),
        vm(Tcg, Q35, 2 * G, Qboot, 512),
        Some("max"),
        &[SMP_TESTS],
        OutcomeKind::Pass,
        vec!["512 of 512 CPUs online", "x2APIC mode"],
        true,
    );
    smp(
        "smp-tcg-q35-x2apic-520".into(),
        vm(Tcg, Q35, 2 * G, Qboot, 520),
        Some("max"),
        &[SMP_TESTS],
        OutcomeKind::Pass,
        vec![
            "8 CPUs beyond the 512 windows are left parked",
            "512 of 512 CPUs online",
        ],
        false,
    );
    smp(
        "smp-tcg-q35-64-serial".into(),
        vm(Tcg, Q35, G, Qboot, 64),
        None,
        &[SMP_TESTS, "smp_wake=serial"],
        OutcomeKind::Pass,
        vec!["serial wake-up"],
        false,
    );
    for n in [2, 4] {
        smp(
            format!("smp-kvm-q35-{n}"),
            vm(Kvm, Q35, 128 * M, Qboot, n),
            None,
            &[SMP_TESTS],
            OutcomeKind::Pass,
            vec![],
            true,
        );
    }
    smp(
        "smp-kvm-q35-x2apic-288".into(),
        vm(Kvm, Q35, G, Qboot, 288),
        None,
        &[SMP_TESTS],
        OutcomeKind::Pass,
        vec!["288 of 288 CPUs online"],
        false,
    );

    // Failure injection: each ends in a report of the APIC id and a boot of the rest, with
    // every other CPU's state intact.
    for (name, extra, says) in [
        (
            "smp-inject-never-woken",
            "smp_skip=2",
            "APIC id 2 (logical 2) did not check in",
        ),
        (
            "smp-inject-made-up-apic-id",
            "smp_fake_apic=77",
            "APIC id 77 (logical 4) did not check in",
        ),
        (
            "smp-inject-late-ap",
            "smp_late=3",
            "APIC id 3 (logical 3) did not check in",
        ),
        // Parked in the trampoline, it survives an NMI (without its IDT: a triple fault,
        // which QEMU under -no-reboot ends as a reset).
        (
            "smp-inject-unlisted-ap-nmi",
            "smp_unlisted=2",
            "the AP parked in the trampoline (APIC id 2) took an NMI",
        ),
    ] {
        for wake in ["smp_wake=parallel", "smp_wake=serial"] {
            let name = format!("{name}-{}", &wake[9..]);
            smp(
                name,
                vm(Tcg, Q35, 128 * M, Qboot, 4),
                None,
                &[SMP_STATE_TESTS, extra, wake, "smp_deadline_ms=500"],
                OutcomeKind::Pass,
                vec![says],
                wake.ends_with("parallel"),
            );
        }
    }
    smp(
        "acpi-corrupt-madt-bsp-alone".into(),
        vm(Tcg, Q35, 128 * M, Qboot, 2),
        None,
        &[SMP_TESTS, "acpi_corrupt_madt"],
        OutcomeKind::Pass,
        vec!["acpi: error: MADT unusable", "1 of 1 CPUs online"],
        true,
    );
    smp(
        "crash-ap-stack-overflow".into(),
        vm(Tcg, Q35, 128 * M, Qboot, 2),
        None,
        &["crash=ap_stack_overflow"],
        OutcomeKind::Exception,
        vec!["double fault (#DF, vector 8) on cpu 1"],
        true,
    );
    // No usable MADT: a clear message and a boot on the BSP alone. Missing for real (QEMU
    // without ACPI tables) and corrupted (the kernel reads it with one byte flipped).
    let mut missing = case(
        "acpi-missing-bsp-alone",
        vm(Tcg, Pc, 128 * M, Qboot, 2),
        &[SMP_TESTS],
        OutcomeKind::Pass,
    );
    missing.qemu_args = vec!["-machine".into(), "acpi=off".into()];
    missing.console_contains = vec!["acpi: error: no RSDP", "1 of 1 CPUs online"];
    cases.push(missing);
    cases
}

/// Whether result record `r` is what `spec` asks for: `spec` is a bench name, optionally
/// followed by `key=value` params the result must carry (`pf_user access=read part=total`).
pub fn bench_matches(spec: &str, r: &records::Record) -> bool {
    let mut words = spec.split_whitespace();
    let Some(name) = words.next() else {
        return false;
    };
    if records::str_field(r, "bench") != Some(name) {
        return false;
    }
    let params = r.get("params").and_then(serde_json::Value::as_object);
    words.all(|w| {
        let Some((k, v)) = w.split_once('=') else {
            return false;
        };
        match params.and_then(|p| p.get(k)) {
            Some(serde_json::Value::String(s)) => s == v,
            Some(serde_json::Value::Number(n)) => v.parse::<f64>().ok() == n.as_f64(),
            Some(serde_json::Value::Bool(b)) => v.parse::<bool>().ok() == Some(*b),
            _ => false,
        }
    })
}

/// The benchmark part of `evaluate`.
fn check_bench_records(case: &Case, recs: &[Record]) -> Result<(), String> {
    let results: Vec<&Record> = recs
        .iter()
        .filter(|r| records::record_type(r) == "result")
        .collect();
    for r in &results {
        let name = records::str_field(r, "bench").unwrap_or("?");
        let mut missing: Vec<&str> = RESULT_FIELDS
            .iter()
            .copied()
            .filter(|f| !r.contains_key(*f))
            .collect();
        if records::str_field(r, "unit") == Some("cycles") {
            missing.extend(
                RESULT_NS_FIELDS
                    .iter()
                    .copied()
                    .filter(|f| !r.contains_key(*f)),
            );
        }
        if !missing.is_empty() {
            return Err(format!("result '{name}' lacks {}", missing.join(", ")));
        }
    }
    let absent: Vec<&str> = case
        .benches
        .iter()
        .copied()
        .filter(|b| !results.iter().any(|r| bench_matches(b, r)))
        .collect();
    if !absent.is_empty() {
        return Err(format!(
            "expected results for {}, got none",
            absent.join(", ")
        ));
    }
    for r in recs.iter().filter(|r| records::record_type(r) == "check") {
        let name = records::str_field(r, "name").unwrap_or("?");
        let pass = r.get("pass").and_then(serde_json::Value::as_bool) == Some(true);
        let detail = records::str_field(r, "detail").unwrap_or("");
        let expect_fail = case.failing_checks.iter().any(|f| check_matches(f, name));
        if pass == expect_fail {
            return Err(format!(
                "expected check '{name}' to {}, it did not ({detail})",
                if expect_fail { "fail" } else { "pass" }
            ));
        }
    }
    for want in case.failing_checks {
        if !recs.iter().any(|r| {
            records::record_type(r) == "check"
                && records::str_field(r, "name").is_some_and(|n| check_matches(want, n))
        }) {
            return Err(format!(
                "expected a failing check '{want}', got no such check"
            ));
        }
    }
    Ok(())
}

/// Whether a check name matches an expected failing check: exactly, or by prefix when the
/// expectation ends in `*` (`shootdown_oracle_no_stale_reads/*`: every per-configuration
/// check of the oracle, and at least one must exist).
pub fn check_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

/// The cases to run: the CI set, or all with `all`; only names containing `filter`.
pub fn select(all: bool, filter: Option<&str>) -> Vec<Case> {
    all_cases()
        .into_iter()
        .filter(|c| all || c.ci)
        .filter(|c| filter.is_none_or(|f| c.name.contains(f)))
        .collect()
}

/// The self-tests a kernel command line selects (None: no `test=` key).
pub fn selected_tests(kernel_args: &[String]) -> Option<Vec<String>> {
    let v = kernel_args
        .iter()
        .rev()
        .find_map(|a| a.strip_prefix("test="))?;
    Some(if v == "all" {
        KERNEL_TESTS.iter().map(|s| s.to_string()).collect()
    } else {
        v.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
}

/// What a check sees of a run.
pub struct Evidence<'a> {
    pub outcome: OutcomeKind,
    pub outcome_message: String,
    pub console: &'a [String],
    pub records: &'a [Record],
    /// Lines that start like a record but do not parse.
    pub malformed: usize,
}

impl<'a> From<&'a RunReport> for Evidence<'a> {
    fn from(r: &'a RunReport) -> Self {
        Evidence {
            outcome: r.outcome.kind(),
            outcome_message: r.outcome.message(),
            console: &r.console,
            records: &r.records,
            malformed: r.malformed.len(),
        }
    }
}

/// Ok if the run met the case's expectation, else the first reason it did not, phrased
/// "expected X, got Y".
pub fn evaluate(case: &Case, ev: &Evidence) -> Result<(), String> {
    if ev.outcome != case.expect {
        let first = ev.outcome_message.lines().next().unwrap_or("");
        let detail = if first.is_empty() || first == ev.outcome.name() {
            String::new()
        } else {
            format!(" ({first})")
        };
        return Err(format!(
            "expected {}, got {}{detail}",
            case.expect, ev.outcome
        ));
    }
    for needle in &case.console_contains {
        if !ev.console.iter().any(|l| l.contains(needle)) {
            return Err(format!(
                "expected the console to contain '{needle}', got no such line"
            ));
        }
    }
    let of_type = |ty: &'static str| {
        ev.records
            .iter()
            .filter(move |r| records::record_type(r) == ty)
    };
    if let Some(tests) = selected_tests(&case.kernel_args) {
        // A kernel test may report "skip" where the hypervisor lacks what it checks (the
        // software KVM backend: SYSCALL from ring 3), or a Bochs model (no SMAP on Haswell);
        // under TCG every test must pass.
        let skip_ok = case.vm.accel == Accel::Kvm || case.emulator == crate::bochs::Emulator::Bochs;
        for r in of_type("test") {
            let status = records::str_field(r, "status");
            if status == Some("skip") && skip_ok {
                continue;
            }
            if status != Some("pass") {
                let name = records::str_field(r, "name").unwrap_or("?");
                let status = records::str_field(r, "status").unwrap_or("(none)");
                let msg = r
                    .get("message")
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                return Err(format!("expected test '{name}' to pass, got {status}{msg}"));
            }
        }
        let missing: Vec<&str> = tests
            .iter()
            .filter(|t| !of_type("test").any(|r| records::str_field(r, "name") == Some(t)))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "expected a test record for each selected test, got none for {}",
                missing.join(", ")
            ));
        }
    }
    if !case.benches.is_empty() {
        if ev.malformed > 0 {
            return Err(format!(
                "expected every record line to parse, got {} malformed",
                ev.malformed
            ));
        }
        check_bench_records(case, ev.records)?;
        if let Some(check) = case.records_check {
            check(ev.records)?;
        }
    }
    if !case.context_fields.is_empty() {
        let Some(ctx) = of_type("context").next() else {
            return Err("expected a context record, got none".into());
        };
        let missing: Vec<&str> = case
            .context_fields
            .iter()
            .copied()
            .filter(|f| !ctx.contains_key(*f))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "expected the context record to have {}, got none",
                missing.join(", ")
            ));
        }
    }
    Ok(())
}

/// The screen check of a case: the saved screen shows the end-of-run summary exactly as the
/// serial console printed it (text cells for VGA; pixels drawn with the kernel's font for a
/// framebuffer).
pub fn check_screen(case: &Case, file: &std::path::Path, console: &[String]) -> Result<(), String> {
    let Some(kind) = case.screen else {
        return Ok(());
    };
    let data =
        std::fs::read(file).map_err(|e| format!("no screen capture {}: {e}", file.display()))?;
    match kind {
        crate::screen::Kind::VgaText => crate::screen::check_vga_text(&data, console),
        crate::screen::Kind::Framebuffer => {
            let pf2 = std::fs::read(crate::screen::FONT_PF2)
                .map_err(|e| format!("{}: {e}", crate::screen::FONT_PF2))?;
            let glyphs = kernel_core::font::from_pf2(&pf2).map_err(str::to_string)?;
            crate::screen::check_framebuffer(&data, console, &glyphs)
        }
    }
}

/// The report check of a case: write the benchmark report of its results folder and look for
/// each of `report_contains` in the summary.
pub fn check_report(case: &Case, dir: &std::path::Path) -> Result<(), String> {
    if case.report_contains.is_empty() && !case.tidy {
        return Ok(());
    }
    let rep = bench_report::write_report(dir).map_err(|e| format!("report: {e}"))?;
    if case.tidy {
        check_tidy(dir)?;
    }
    for needle in &case.report_contains {
        if !rep.summary.contains(needle) {
            return Err(format!("expected the report to contain '{needle}'"));
        }
    }
    Ok(())
}

/// The tidy files of a results folder agree with its records: results.csv has a row per
/// result, summary.json the run's outcome, every result's raw samples give its figures, and
/// the main figures exist as SVG and PDF.
fn check_tidy(dir: &std::path::Path) -> Result<(), String> {
    use bench_report::tidy;
    let res = bench_report::load(dir).map_err(|e| format!("report: {e}"))?;
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).map_err(|e| format!("expected {name}: {e}"))
    };
    let rows = tidy::results_from_csv(&read(tidy::RESULTS_CSV)?)?;
    if rows.len() != res.results.len() {
        return Err(format!(
            "expected {} rows in results.csv, got {}",
            res.results.len(),
            rows.len()
        ));
    }
    let json: serde_json::Value = serde_json::from_str(&read(tidy::SUMMARY_JSON)?)
        .map_err(|e| format!("summary.json: {e}"))?;
    if json["outcome"] != "pass" || json["results"] != res.results.len() {
        return Err(format!(
            "expected summary.json to say pass with {} results, got {} with {}",
            res.results.len(),
            json["outcome"],
            json["results"]
        ));
    }
    let n = tidy::verify_samples(&res).map_err(|e| format!("samples.csv.gz: {e}"))?;
    if n == 0 {
        return Err("expected raw samples in samples.csv.gz, got none".into());
    }
    // Every figure twice: SVG and PDF.
    let plots = dir.join("plots");
    for name in ["pf_latency", "shootdown_vs_targets", "pf_throughput"] {
        for ext in ["svg", "pdf"] {
            let f = plots.join(format!("{name}.{ext}"));
            let ok = std::fs::read(&f)
                .is_ok_and(|b| b.starts_with(if ext == "pdf" { b"%PDF-" } else { b"<svg" }));
            if !ok {
                return Err(format!("expected the figure {}", f.display()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Line, parse_line};

    #[test]
    fn a_bench_spec_matches_name_and_params() {
        let r: records::Record = serde_json::from_str(
            r#"{"type":"result","bench":"pf_user","params":{"mode":"user","page":4096,"access":"read","part":"total"}}"#,
        )
        .unwrap();
        assert!(bench_matches("pf_user", &r));
        assert!(bench_matches("pf_user access=read part=total", &r));
        assert!(bench_matches("pf_user page=4096", &r));
        assert!(!bench_matches("pf_user access=write", &r));
        assert!(
            !bench_matches("pf_user variant=zero_page", &r),
            "an absent param"
        );
        assert!(!bench_matches("pf_kernel", &r));
        assert!(!bench_matches("pf_user access", &r), "a word without =");
    }

    fn recs(lines: &[&str]) -> Vec<Record> {
        lines
            .iter()
            .map(|l| match parse_line(l) {
                Line::Record(r) => r,
                o => panic!("{o:?}"),
            })
            .collect()
    }

    fn find(name: &str) -> Case {
        all_cases().into_iter().find(|c| c.name == name).unwrap()
    }

    fn ev<'a>(outcome: OutcomeKind, console: &'a [String], records: &'a [Record]) -> Evidence<'a> {
        Evidence {
            outcome,
            outcome_message: outcome.name().into(),
            console,
            records,
            malformed: 0,
        }
    }

    #[test]
    fn table_shape() {
        let all = all_cases();
        let mut names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "case names are unique");
        let selftests = |v: &[Case]| {
            v.iter()
                .filter(|c| c.name.starts_with("selftests-"))
                .count()
        };
        assert_eq!(selftests(&select(false, None)), 4);
        assert_eq!(selftests(&all), 12 + 3);
        assert!(
            select(false, None)
                .iter()
                .any(|c| c.name == "selftests-tcg-q35-seabios-1G")
        );
        assert!(
            select(false, None)
                .iter()
                .any(|c| c.name == "selftests-kvm-q35-qboot-128M")
        );
        assert!(
            !select(false, None)
                .iter()
                .any(|c| c.name == "selftests-kvm-pc-seabios-128M")
        );
        assert_eq!(select(true, Some("crash-")).len(), 7);

        let grub = find("grub-multiboot2-selftests");
        assert!(grub.ci);
        assert_eq!(grub.vm.boot, Boot::Grub);
        assert_eq!(
            (grub.vm.accel, grub.vm.machine, grub.vm.memory),
            (Accel::Tcg, Machine::Q35, G)
        );
        assert_eq!(grub.vm.firmware, Firmware::SeaBios);
        assert_eq!(grub.kernel_args, ["test=all"]);
        assert_eq!(grub.console_contains, ["protocol Multiboot2"]);
        let pc = find("grub-multiboot2-selftests-pc-128M");
        assert!(!pc.ci);
        assert_eq!((pc.vm.machine, pc.vm.memory), (Machine::Pc, 128 * M));
        assert_eq!(select(false, Some("grub")).len(), 1);
        assert_eq!(select(true, Some("grub")).len(), 2);
        for c in &all {
            let ok = crate::vm::check_boot_firmware(c.vm.boot, &c.vm.firmware);
            assert_eq!(ok, Ok(()), "{}", c.name);
            if !c.linux {
                let ok = crate::vm::check_multiboot_firmware(c.vm.boot, &c.vm.firmware);
                assert_eq!(ok, Ok(()), "{}", c.name);
                assert_eq!(
                    crate::vm::check_cmdline_len(&c.kernel_args),
                    Ok(()),
                    "{}",
                    c.name
                );
            }
            if c.vm.boot == Boot::Grub {
                assert_eq!(
                    crate::grub::check_cmdline(&c.kernel_args),
                    Ok(()),
                    "{}",
                    c.name
                );
            }
        }
        assert_eq!(find("crash-hang").vm.timeout, Some(5.0));
    }

    #[test]
    fn test_selection() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(selected_tests(&a(&["exit=qemu"])), None);
        assert_eq!(
            selected_tests(&a(&["test=all"])).unwrap().len(),
            KERNEL_TESTS.len()
        );
        assert_eq!(
            selected_tests(&a(&["test=higher_half,rodata_nx"])).unwrap(),
            a(&["higher_half", "rodata_nx"])
        );
    }

    #[test]
    fn selftests_need_every_test_passing() {
        let c = find("selftests-tcg-q35-seabios-1G");
        let all: Vec<String> = KERNEL_TESTS
            .iter()
            .map(|t| format!(r#"{{"type":"test","name":"{t}","status":"pass"}}"#))
            .chain([r#"{"type":"end","status":"pass"}"#.to_string()])
            .collect();
        let good = recs(&all.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(evaluate(&c, &ev(OutcomeKind::Pass, &[], &good)), Ok(()));

        let e = evaluate(&c, &ev(OutcomeKind::Pass, &[], &good[1..])).unwrap_err();
        assert!(e.contains("higher_half"), "{e}");

        let mut bad = good.clone();
        bad[2] = recs(&[
            r#"{"type":"test","name":"text_readonly","status":"fail","message":"writable"}"#,
        ])
        .remove(0);
        let e = evaluate(&c, &ev(OutcomeKind::Pass, &[], &bad)).unwrap_err();
        assert!(e.contains("text_readonly") && e.contains("writable"), "{e}");

        let e = evaluate(&c, &ev(OutcomeKind::TestFailed, &[], &good)).unwrap_err();
        assert!(e.starts_with("expected pass, got test_failed"), "{e}");
    }

    #[test]
    fn grub_case_needs_multiboot2() {
        let c = find("grub-multiboot2-selftests");
        let lines: Vec<String> = KERNEL_TESTS
            .iter()
            .map(|t| format!(r#"{{"type":"test","name":"{t}","status":"pass"}}"#))
            .collect();
        let good = recs(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        let mb2 = ["boot: protocol Multiboot2, loader 'GRUB 2.06', cmdline 'test=all'".to_string()];
        assert_eq!(evaluate(&c, &ev(OutcomeKind::Pass, &mb2, &good)), Ok(()));
        let mb1 = ["boot: protocol Multiboot1, loader 'qemu', cmdline 'test=all'".to_string()];
        let e = evaluate(&c, &ev(OutcomeKind::Pass, &mb1, &good)).unwrap_err();
        assert!(e.contains("'protocol Multiboot2'"), "{e}");
    }

    #[test]
    fn bench_record_checks() {
        let mut c = find("shootdown-oracle-skip-invlpg-tcg");
        assert_eq!(c.failing_checks, [ORACLE_CHECKS]);
        let good = r#"{"type":"result","bench":"shootdown_oracle","kind":"workload","params":{},"unit":"cycles","n":1,"warmup":0,"min":1,"p50":1,"p90":1,"p99":1,"p999":1,"max":1,"mean":1,"stddev":0,"min_ns":1,"p50_ns":1,"p90_ns":1,"p99_ns":1,"p999_ns":1,"max_ns":1,"mean_ns":1,"stddev_ns":0,"hist":[[1,1]]}"#;
        let caught = r#"{"type":"check","name":"shootdown_oracle_no_stale_reads/kernel/ipi/unicast/1/read","pass":false,"detail":"5 reads"}"#;
        let caught_user = r#"{"type":"check","name":"shootdown_oracle_no_stale_reads/user/ipi/unicast/1/read","pass":false,"detail":"3 reads"}"#;
        let missed = r#"{"type":"check","name":"shootdown_oracle_no_stale_reads/kernel/ipi/unicast/1/read","pass":true,"detail":"0 reads"}"#;
        let missed_user = r#"{"type":"check","name":"shootdown_oracle_no_stale_reads/user/ipi/unicast/1/read","pass":true,"detail":"0 reads"}"#;
        let ok = recs(&[good, caught, caught_user]);
        assert_eq!(evaluate(&c, &ev(OutcomeKind::TestFailed, &[], &ok)), Ok(()));
        let refused = |c: &Case, lines: &[&str]| {
            evaluate(c, &ev(OutcomeKind::TestFailed, &[], &recs(lines))).unwrap_err()
        };
        // Caught in one configuration but not in another: the case fails (one check per
        // configuration, so a blind configuration cannot hide behind a good one).
        let e = refused(&c, &[good, caught, missed_user]);
        assert!(e.contains("user/ipi/unicast/1/read"), "{e}");
        let e = refused(&c, &[good, missed, caught_user]);
        assert!(e.contains("to fail"), "{e}");
        // No oracle check at all.
        let e = refused(&c, &[good]);
        assert!(e.contains("got no such check"), "{e}");
        // A result without its _ns figures, or no result at all.
        let no_ns = good.replace(r#","p50_ns":1"#, "");
        let e = refused(&c, &[&no_ns, caught, caught_user]);
        assert!(e.contains("p50_ns"), "{e}");
        let e = refused(&c, &[caught, caught_user]);
        assert!(e.contains("expected results for shootdown_oracle"), "{e}");
        // A passing case with a failed check fails.
        c.failing_checks = &[];
        let e = evaluate(&c, &ev(OutcomeKind::TestFailed, &[], &ok)).unwrap_err();
        assert!(e.contains("to pass"), "{e}");
    }

    #[test]
    fn console_and_context_checks() {
        let c = find("bad-cmdline-unknown-key");
        let console = vec![
            "error: unknown option 'bogus=1'".to_string(),
            "options: help exit=qemu|halt test=...".to_string(),
        ];
        assert_eq!(
            evaluate(&c, &ev(OutcomeKind::BadCmdline, &console, &[])),
            Ok(())
        );
        let e = evaluate(&c, &ev(OutcomeKind::BadCmdline, &console[..1], &[])).unwrap_err();
        assert!(e.contains("'exit='"), "{e}");

        let mut c = find("default-job");
        // The context check alone (the benchmark checks have their own test).
        c.benches = &[];
        let ctx = recs(&[
            r#"{"type":"context","git_rev":"a","cpu_vendor":"v","cpu_model":"m","tsc_hz":1,"tsc_source":"pit","invariant_tsc":false,"hypervisor":"TCG","cpus_found":2,"cpus_possible":2,"cpus_online":2,"memory_bytes":1,"cmdline":""}"#,
        ]);
        assert_eq!(evaluate(&c, &ev(OutcomeKind::Pass, &[], &ctx)), Ok(()));
        let e = evaluate(&c, &ev(OutcomeKind::Pass, &[], &[])).unwrap_err();
        assert!(e.contains("context record"), "{e}");
        let partial = recs(&[r#"{"type":"context","git_rev":"a"}"#]);
        let e = evaluate(&c, &ev(OutcomeKind::Pass, &[], &partial)).unwrap_err();
        assert!(e.contains("cpu_vendor") && e.contains("cmdline"), "{e}");

        let c = find("crash-no-end");
        assert_eq!(evaluate(&c, &ev(OutcomeKind::Incomplete, &[], &[])), Ok(()));
        let e = evaluate(&c, &ev(OutcomeKind::Pass, &[], &[])).unwrap_err();
        assert_eq!(e, "expected incomplete, got pass");
    }
}
