//! `runner --version`: the crate's version and, when built from a git checkout, the revision
//! (`0.1.0 (git 1a2b3c4d5e6f)`), in RUNNER_VERSION. Rebuilt when HEAD moves (HEAD and this
//! worktree's HEAD log); without git, or outside a checkout, the version alone.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let Some(rev) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        println!("cargo:rustc-env=RUNNER_VERSION={version}");
        return;
    };
    // A commit, checkout or reset moves HEAD or appends to its log; only existing files are
    // watched (cargo reruns a build script on every build for a missing one).
    for name in ["HEAD", "logs/HEAD"] {
        if let Some(path) = git(&["rev-parse", "--git-path", name])
            && std::path::Path::new(&path).is_file()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rustc-env=RUNNER_VERSION={version} (git {rev})");
}
