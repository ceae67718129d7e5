#!/usr/bin/env bash
# Installs everything the project needs on Debian 12 (bookworm), Debian 13 (trixie) or
# Ubuntu 24.04 (noble), as root or as a user with sudo. Idempotent: running it twice is fine.
#
# After it, `just` is on the PATH of the shell that ran it (the distribution's package, or a
# pinned build installed into /usr/local/bin), and the justfile finds cargo in ~/.cargo/bin by
# itself: `./scripts/setup.sh && just bench` works in a shell that never had Rust.
#
# Pinned: rustup-init (version and sha256 below; only where rustup is not installed and the
# distribution has no usable package), just (version below; only where neither `just` nor a
# distribution package exists), the Rust toolchain (rust-toolchain.toml). Nothing goes through
# pip: Debian 12 and Ubuntu 24.04 refuse it (PEP 668, "externally managed").
#
# For tests (bench/runner/tests/setup_script.rs): SETUP_DRY_RUN=1 prints every command that
# would change the machine ("would run: ...") instead of running it; SETUP_OS_RELEASE names
# the os-release file to read (default /etc/os-release), SETUP_APT_SOURCES apt's source lists.
set -euo pipefail

RUSTUP_VERSION=1.28.2
RUSTUP_SHA256=20a06e644b0d9bd2fbdbfd52d42540bdde820ea7df86e92e533c073da0cdd43c
RUSTUP_URL="https://static.rust-lang.org/rustup/archive/$RUSTUP_VERSION/x86_64-unknown-linux-gnu/rustup-init"
JUST_VERSION=1.43.0
JUST_BIN_DIR=/usr/local/bin

DRY="${SETUP_DRY_RUN:-}"
OS_RELEASE="${SETUP_OS_RELEASE:-/etc/os-release}"
APT_SOURCES="${SETUP_APT_SOURCES:-/etc/apt/sources.list /etc/apt/sources.list.d/}"
ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
# From the repository, rust-toolchain.toml picks the toolchain of every cargo call below.
cd "$ROOT_DIR"

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
# A command that changes the machine: run it, or print it in a dry run.
act() {
    if [ -n "$DRY" ]; then
        printf '[setup] would run: %s\n' "$*"
    else
        "$@"
    fi
}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: run as root or install sudo"
    SUDO=(sudo)
fi
apt_install() {
    act "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}
apt_updated=0
apt_update() {
    if [ "$apt_updated" = 0 ]; then
        act "${SUDO[@]}" apt-get update -qq
        apt_updated=1
    fi
}
installed() { dpkg -s "$1" >/dev/null 2>&1; }
# Whether apt offers package $1 (a candidate version exists).
apt_has() {
    local c
    c=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | head -1)
    [ -n "$c" ] && [ "$c" != "(none)" ]
}

[ -r "$OS_RELEASE" ] || die "$OS_RELEASE not found: this script supports Debian 12/13 and Ubuntu 24.04"
# shellcheck disable=SC1090
. "$OS_RELEASE"
case "${ID:-}:${VERSION_ID:-}" in
    debian:12 | debian:13 | ubuntu:24.04) log "${PRETTY_NAME:-$ID $VERSION_ID}" ;;
    debian:* | ubuntu:*)
        log "warning: ${PRETTY_NAME:-$ID $VERSION_ID} is not one of the supported Debian 12/13, Ubuntu 24.04; trying anyway" ;;
    *) die "unsupported distribution '${ID:-unknown}': this script needs apt (Debian 12/13, Ubuntu 24.04)" ;;
esac

# Whether the caller's shell finds just: decided before this script changes PATH.
CALLER_HAS_JUST=0
command -v just >/dev/null 2>&1 && CALLER_HAS_JUST=1

PKGS=(nasm xorriso grub-pc-bin grub-efi-amd64-bin grub-common mtools ovmf seabios curl ca-certificates
      build-essential binutils cpio git)

qemu_ok() {
    command -v qemu-system-x86_64 >/dev/null 2>&1 || return 1
    local v
    v=$(qemu-system-x86_64 --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -1)
    [ -n "$v" ] && [ "$v" -ge 8 ]
}

missing=()
for p in "${PKGS[@]}"; do
    installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] || ! qemu_ok; then
    if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
        # QEMU 10 lives in bookworm-backports (7.2 in bookworm has no TCG x2APIC).
        # shellcheck disable=SC2086
        if ! grep -rqs 'bookworm-backports' $APT_SOURCES; then
            log "adding bookworm-backports"
            if [ -n "$DRY" ]; then
                log "would run: write /etc/apt/sources.list.d/bookworm-backports.list"
            else
                echo 'deb http://deb.debian.org/debian bookworm-backports main' |
                    "${SUDO[@]}" tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
            fi
        fi
        apt_update
        [ "${#missing[@]}" -gt 0 ] && apt_install "${missing[@]}"
        qemu_ok || apt_install -t bookworm-backports qemu-system-x86 qemu-system-data
    else
        apt_update
        apt_install "${missing[@]}" qemu-system-x86 qemu-system-data
    fi
else
    log "apt packages present"
fi
[ -z "$DRY" ] && log "$(qemu-system-x86_64 --version | head -1)"

# Bochs: a second, independent x86 for the test matrix (`runner run --emulator bochs`).
# Optional: where a package is missing (or not in this distribution's lists), the Bochs test
# cases are skipped with the reason instead of failing.
BOCHS_PKGS=(bochs bochsbios vgabios)
bochs_missing() {
    local p
    for p in "${BOCHS_PKGS[@]}"; do installed "$p" || return 0; done
    return 1
}
if bochs_missing; then
    log "installing ${BOCHS_PKGS[*]}"
    if ! apt_install "${BOCHS_PKGS[@]}" >/dev/null 2>&1; then
        apt_update >/dev/null 2>&1 || true
        apt_install "${BOCHS_PKGS[@]}" >/dev/null 2>&1 ||
            log "warning: could not install ${BOCHS_PKGS[*]}; the Bochs test cases will be skipped"
    fi
fi

# The Linux baseline downloads Debian's kernel package with `apt-get download` (never
# installed; apt verifies it against the signed archive): apt's lists must be current.
if [ "${ID:-}" = debian ] && ! apt_has linux-image-amd64; then
    apt_update || true
fi

# Rust: rustup and the toolchain rust-toolchain.toml pins. Prefer an installed rustup, then
# the distribution's package (only where it would not replace the distribution's own cargo
# or rustc packages), then the pinned, checksummed rustup-init.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if command -v rustup >/dev/null 2>&1; then
    log "rustup present: $(command -v rustup)"
elif apt_has rustup && ! installed cargo && ! installed rustc; then
    log "installing rustup (distribution package)"
    apt_install rustup
else
    log "installing rustup-init $RUSTUP_VERSION (sha256 checked)"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    act curl --proto '=https' --tlsv1.2 -sSfL -o "$tmp/rustup-init" "$RUSTUP_URL"
    if [ -z "$DRY" ]; then
        echo "$RUSTUP_SHA256  $tmp/rustup-init" | sha256sum -c --quiet - ||
            die "rustup-init: sha256 mismatch (expected $RUSTUP_SHA256)"
        chmod +x "$tmp/rustup-init"
    fi
    act "$tmp/rustup-init" -y --profile minimal --default-toolchain none
fi
TOOLCHAIN=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$ROOT_DIR/rust-toolchain.toml")
act rustup toolchain install "$TOOLCHAIN" --profile minimal --target x86_64-unknown-none \
    --component rustfmt,clippy,llvm-tools
if [ -z "$DRY" ]; then
    command -v cargo >/dev/null 2>&1 ||
        die "cargo is not on PATH after the toolchain install (looked in ${CARGO_HOME:-$HOME/.cargo}/bin and PATH)"
    log "$(rustc --version)"
fi

# just: where the caller's shell finds it. The distribution's package, else a pinned build
# from crates.io installed into /usr/local/bin (on every stock PATH).
if [ "$CALLER_HAS_JUST" = 1 ]; then
    log "just present: $(command -v just)"
elif apt_has just; then
    log "installing just (distribution package)"
    apt_install just
else
    log "building just $JUST_VERSION (cargo install --locked) into $JUST_BIN_DIR"
    jtmp=$(mktemp -d)
    act cargo install just --version "$JUST_VERSION" --locked --quiet --root "$jtmp"
    act "${SUDO[@]}" install -m 0755 "$jtmp/bin/just" "$JUST_BIN_DIR/just"
    rm -rf "$jtmp"
fi
if [ -z "$DRY" ]; then
    hash -r
    command -v just >/dev/null 2>&1 || die "just is not on PATH after the install"
    log "$(just --version)"
fi
log "done: run \`just bench\` (benchmarks) or \`just test\` (tests)"
