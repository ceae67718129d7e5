//! The kernel's second stage: entered from boot/entry.asm on the bootstrap processor, in long
//! mode at the higher half, on the boot stack, with the prekernel tables (low 4 GiB identity
//! mapped, low 1 GiB at 0xffffffff80000000) still loaded.

#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

mod crash;
mod selftest;

use kernel_core::cmdline;

use sys::cpu::{call as work, local as cpu_local, smp, tsc_sync};
use sys::platform::{acpi as acpi_glue, boot, clock};
use sys::run::context_record as context;
use sys::run::exit::{self, ExitCode};
use sys::{arch, console, mm, println, record, screen};

/// The loader's information, normalised, kept for the whole run.
static BOOT_INFO: spin::Once<kernel_core::bootinfo::BootInfo> = spin::Once::new();

/// Entry from boot/entry.asm: `loader_magic` and `loader_info` are EAX and EBX as the loader
/// left them (multiboot1 or multiboot2 magic and the physical address of its information).
#[unsafe(no_mangle)]
extern "C" fn kernel_main(loader_magic: u32, loader_info: u32) -> ! {
    cpu_local::bsp_early();
    console::init();
    screen::attach();
    arch::gdt::init_bsp();
    arch::idt::init();
    arch::idt::load();
    let features = arch::cpu::features();
    exit::set_qemu_exit(features.hypervisor.is_some());
    println!(
        "kernel: higher-half entry at {:#x} on {} ({})",
        kernel_main as *const () as usize,
        features.brand_str(),
        features.hypervisor_str()
    );

    let info = match boot::read_boot_info(loader_magic, loader_info) {
        Ok(info) => BOOT_INFO.call_once(|| info),
        Err(
            e @ (kernel_core::bootinfo::BootInfoError::CmdlineTooLong
            | kernel_core::bootinfo::BootInfoError::CmdlineNotUtf8),
        ) => {
            // A command line the kernel cannot take is a bad command line (exit 41), like
            // an unknown option, not an unreadable boot.
            bad_cmdline(&e)
        }
        Err(e) => {
            println!("boot: error: cannot read the loader's information: {e}");
            record!("error", |r| r
                .str("kind", "boot")
                .str("message", "unreadable boot information"));
            exit::finish(ExitCode::Fail);
        }
    };

    let opts = match cmdline::parse(info.cmdline()) {
        Ok(o) => o,
        Err(e) => bad_cmdline(&e),
    };
    if let Some(mode) = opts.exit {
        exit::set_qemu_exit(mode == cmdline::ExitMode::Qemu);
    }
    if opts.help {
        print_help();
        exit::finish(ExitCode::Pass);
    }

    mm::init(info, features, !opts.nosmap);
    acpi_glue::reserve_tables_early(info);
    let screen = screen::init(info);
    clock::init(info, opts.tsc_calibration.unwrap_or_default());
    arch::tsc::init_fence();
    boot::print_summary(info);
    match &screen {
        Some(f) => println!("screen: {}, {} x {} characters", f.kind, f.cols, f.rows),
        None => println!("screen: none found (serial console only)"),
    }
    smp::init(info, &opts);
    work::init();
    tsc_sync::check();
    context::print(info);

    if let Some(crash) = opts.crash {
        crash::inject(crash);
    }
    if let Some(tests) = opts.tests {
        if opts.bench.groups.is_some() {
            println!("kernel: test= given: the self-tests run and bench= is ignored");
            record!("error", |r| r
                .str("kind", "cmdline")
                .str("message", "test= and bench= together: bench= is ignored"));
        }
        let ok = selftest::run(&tests);
        exit::finish(if ok { ExitCode::Pass } else { ExitCode::Fail });
    }
    // The default job: the benchmark suite (`bench=` selects groups; all by default).
    let ok = bench::run(&opts);
    exit::finish(if ok { ExitCode::Pass } else { ExitCode::Fail })
}

fn print_help() {
    use core::fmt::Write;
    let mut g = console::ConsoleGuard::lock();
    let _ = writeln!(
        g,
        "kernel command line options (key=value words, separated by spaces):"
    );
    let _ = cmdline::write_help(&mut g);
}

fn bad_cmdline(e: &dyn core::fmt::Display) -> ! {
    {
        use core::fmt::Write;
        let mut g = console::ConsoleGuard::lock();
        let _ = writeln!(g, "error: {e}");
        let _ = writeln!(g, "valid options:");
        let _ = cmdline::write_help(&mut g);
    }
    let mut msg = kernel_core::fmtbuf::FmtBuf::<256>::new();
    let _ = core::fmt::Write::write_fmt(&mut msg, format_args!("bad command line: {e}"));
    record!("error", |r| r
        .str("kind", "cmdline")
        .str("message", msg.as_str()));
    exit::finish(ExitCode::BadCmdline)
}
