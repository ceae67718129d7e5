#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 / Ubuntu machine.
# Idempotent: running it twice is fine. Needs root or sudo for apt.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

log() { printf '[setup] %s\n' "$*"; }

. /etc/os-release
PKGS=(nasm xorriso grub-pc-bin grub-efi-amd64-bin grub-common mtools ovmf seabios curl ca-certificates
      build-essential binutils cpio git)

qemu_ok() {
    command -v qemu-system-x86_64 >/dev/null 2>&1 || return 1
    local v
    v=$(qemu-system-x86_64 --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -1)
    [ -n "$v" ] && [ "$v" -ge 8 ]
}

need_apt=0
for p in "${PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || need_apt=1
done
qemu_ok || need_apt=1

if [ "$need_apt" = 1 ]; then
    if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
        # QEMU 10 lives in bookworm-backports (7.2 in bookworm has no TCG x2APIC).
        if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
            log "adding bookworm-backports"
            echo 'deb http://deb.debian.org/debian bookworm-backports main' |
                $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
        fi
        $SUDO apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
        qemu_ok || $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends -t bookworm-backports qemu-system-x86 qemu-system-data >/dev/null
    else
        $SUDO apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PKGS[@]}" \
            qemu-system-x86 qemu-system-data >/dev/null
    fi
else
    log "apt packages present"
fi
log "$(qemu-system-x86_64 --version | head -1)"

# Bochs: a second, independent x86 for the test matrix (`runner run --emulator bochs`).
# Optional: where a package is missing (or not in this distribution's lists), the Bochs test
# cases are skipped with the reason instead of failing.
BOCHS_PKGS=(bochs bochsbios vgabios)
bochs_missing() {
    local p
    for p in "${BOCHS_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || return 0; done
    return 1
}
bochs_install() {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${BOCHS_PKGS[@]}" >/dev/null 2>&1
}
if bochs_missing; then
    log "installing ${BOCHS_PKGS[*]}"
    if ! bochs_install; then
        $SUDO apt-get update -qq >/dev/null 2>&1 || true
        bochs_install ||
            log "warning: could not install ${BOCHS_PKGS[*]}; the Bochs test cases will be skipped"
    fi
fi
if command -v bochs >/dev/null 2>&1; then
    log "$(bochs --help 2>/dev/null | sed -n 's/^ *\(Bochs x86 Emulator [^ ]*\).*/\1/p' | head -1)"
fi

# The Linux baseline downloads Debian's pinned kernel package with `apt-get download` (never
# installed): apt must know it. The pin lives in bench/runner/src/linux.rs.
if [ "${ID:-}" = debian ]; then
    LINUX_RS="$(dirname "$0")/../bench/runner/src/linux.rs"
    LPKG=$(sed -n 's/^pub const PACKAGE: &str = "\(.*\)";/\1/p' "$LINUX_RS")
    LVER=$(sed -n 's/^pub const VERSION: &str = "\(.*\)";/\1/p' "$LINUX_RS")
    if [ -n "$LPKG" ] && ! apt-cache show "$LPKG=$LVER" >/dev/null 2>&1; then
        log "updating apt's lists for $LPKG=$LVER"
        $SUDO apt-get update -qq || true
    fi
fi

if ! command -v rustup >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/rustup" ]; then
    log "installing rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
fi
export PATH="$HOME/.cargo/bin:$PATH"
cd "$(dirname "$0")/.."
# rust-toolchain.toml pins the toolchain and the kernel target.
rustup show active-toolchain >/dev/null 2>&1 || true
TOOLCHAIN=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
rustup toolchain install "$TOOLCHAIN" --profile minimal --target x86_64-unknown-none \
    --component rustfmt,clippy,llvm-tools >/dev/null
log "$(rustc --version)"

if ! command -v just >/dev/null 2>&1; then
    log "installing just"
    if ! python3 -m pip install --quiet rust-just 2>/dev/null; then
        cargo install just --locked --quiet
    fi
fi
hash -r
command -v just >/dev/null 2>&1 || { echo "[setup] error: just is not on PATH after install" >&2; exit 1; }
log "$(just --version)"
log "done"
