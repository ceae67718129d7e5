# Research kernel: build, boot, test, benchmark. `just --list` shows every recipe.

set shell := ["bash", "-euo", "pipefail", "-c"]

# cargo and rustup live in ~/.cargo/bin (rustup's default), which a shell that never had Rust
# does not have on its PATH: every recipe finds them anyway.
export PATH := env_var_or_default("CARGO_HOME", env_var("HOME") + "/.cargo") + "/bin:" + env_var("PATH")

kernel_target := "x86_64-unknown-none"
kernel_elf := justfile_directory() / "target" / kernel_target / "release" / "kernel"
runner := justfile_directory() / "target" / "release" / "runner"

# Each recipe's description is the one comment line right above it (`just --list` shows only
# that line); more about a recipe goes in a comment block set off by an empty line.

# Show the recipes.
default:
    @just --list

# Build the kernel; the last line printed is the path of its ELF.
kernel:
    cargo build --release -p kernel --target {{kernel_target}}
    @echo {{kernel_elf}}

# Build the host runner.
runner:
    cargo build --release -p runner

# Boot the kernel and show its console: `just run -- test=all`, `just run --smp 4 --accel tcg`.
run *ARGS: kernel runner
    {{runner}} run --kernel {{kernel_elf}} {{ARGS}}

# results/latest gets the records, CSV, summary.md and SVG plots; one group with more samples:
# `just bench --bench shootdown --samples 5000`.

# The main job: the benchmark suite into results/latest: `just bench --quick --accel tcg`.
bench *ARGS: kernel runner
    {{runner}} run --kernel {{kernel_elf}} --results results/latest --quiet {{ARGS}}

# A hybrid ISO: a CD or a USB stick (`just usb`), GRUB for BIOS and UEFI.

# The bootable image for bare metal; the last line is its path: `just image --default quick`.
image *ARGS: kernel runner
    {{runner}} image --kernel {{kernel_elf}} {{ARGS}}

# It shows the drive and asks for its name; it refuses a fixed, mounted or too small one.

# Write the image to a removable drive: `just usb /dev/sdX` (shows it and asks first).
usb DEVICE: image
    {{runner}} usb {{DEVICE}} --image target/image/kernel.iso

# Rewrite README.md's Results block from the committed folders under results/.
readme-results: runner
    {{runner}} readme

# The Linux baseline's benchmark program: static, it is /init of the initramfs.
linux-bench:
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -p linux-bench --target x86_64-unknown-linux-gnu

# Debian's pinned kernel with our initramfs (/init is linux-bench); `--mitigations off` too.

# The Linux baseline on the same VM into results/linux-latest: `just bench-linux --quick`.
bench-linux *ARGS: linux-bench runner
    {{runner}} linux --init {{justfile_directory()}}/target/x86_64-unknown-linux-gnu/release/linux-bench --results results/linux-latest --quiet {{ARGS}}

# Redraw a results folder's figures (SVG, PDF) from its results.csv: `just plot results/latest`.
plot DIR: runner
    {{runner}} plot {{DIR}}

# Two results folders side by side: `just compare results/old results/latest`.
compare OLD NEW: runner
    {{runner}} compare {{OLD}} {{NEW}}

# The workspace lints deny an `unsafe` block without a `// SAFETY:` comment.

# Clippy on the kernel and host targets, warnings as errors.
lint:
    cargo clippy --release -p kernel -p sys -p bench --target x86_64-unknown-none -- -D warnings
    cargo clippy --workspace --exclude kernel --exclude sys --exclude bench --all-targets -- -D warnings

# The host tests cover the host crates; sys and bench are kernel-only (no_std, their own panic
# handler, no host tests: clippy checks them for the kernel target). Built for the host beside
# the runner, their bitflags would get std through clap's dependencies.

# The CI set: clippy, host unit tests, then a representative subset of every in-QEMU matrix.
test: lint kernel runner linux-bench
    cargo test --workspace --exclude kernel --exclude sys --exclude bench
    {{runner}} test --kernel {{kernel_elf}}

# Every configuration of every matrix.
test-all: kernel runner linux-bench
    cargo test --workspace --exclude kernel --exclude sys --exclude bench
    {{runner}} test --kernel {{kernel_elf}} --all

# Is KVM usable here, and with which CPU model?
kvm-probe: runner
    {{runner}} kvm-probe

# bash: `just completions bash > ~/.local/share/bash-completion/completions/runner`; zsh: a
# file `_runner` in a directory of $fpath; fish: ~/.config/fish/completions/runner.fish.

# The runner's shell completion script on stdout: `just completions bash` (or zsh, fish).
completions SHELL: runner
    @{{runner}} completions {{SHELL}}
