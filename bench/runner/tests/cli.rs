//! The runner's command line, end to end (the real binary, no emulator): `--version`, the help
//! of every subcommand, a usage error (short, with a suggestion, exit status 2), the completion
//! scripts, and printing into a closed pipe (`runner --help | head -1`).

use std::process::{Command, Output, Stdio};

const RUNNER: &str = env!("CARGO_BIN_EXE_runner");

fn runner(args: &[&str]) -> Output {
    Command::new(RUNNER).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn version() {
    let out = runner(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    let v = text(&out.stdout);
    assert!(
        v.starts_with(&format!("runner {}", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
}

#[test]
fn every_subcommand_has_its_help() {
    for sub in [
        "run",
        "test",
        "linux",
        "image",
        "usb",
        "readme",
        "compare",
        "kvm-probe",
        "completions",
    ] {
        let out = runner(&[sub, "--help"]);
        let help = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{sub}: {}", text(&out.stderr));
        assert!(
            help.contains(&format!("Usage: runner {sub}")),
            "{sub}: {help}"
        );
    }
}

#[test]
fn a_usage_error_is_short_with_a_suggestion_and_exit_status_2() {
    let out = runner(&["run", "--kernel", "k", "--accel", "kvmm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(err.contains("tip: a similar value exists: 'kvm'"), "{err}");
    assert!(err.lines().count() < 15, "{err}");
    let out = runner(&["run", "--kernel", "k", "test=all"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("kernel arguments go after `--`"), "{err}");
    assert!(err.contains("Usage: runner run"), "{err}");
    assert!(err.lines().count() < 15, "{err}");
}

#[test]
fn completion_scripts() {
    for (shell, mark) in [
        ("bash", "complete -F _runner"),
        ("zsh", "#compdef runner"),
        ("fish", "complete -c runner"),
    ] {
        let out = runner(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains(mark), "{shell}: {script}");
        assert!(script.contains("kvm-probe"), "{shell}");
    }
}

#[test]
fn printing_into_a_closed_pipe_is_no_abort() {
    for args in [&["--help"][..], &["run", "-h"], &["completions", "bash"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(RUNNER)
            .args(args)
            .stdout(Stdio::from(writer))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}
