//! Is KVM usable here, and with which CPU model? Opens /dev/kvm, then starts a paused QEMU with
//! `-accel kvm` and talks QMP to it; CPU models are tried in order (the software KVM backend
//! kvm_pvm refuses plain `host`: "failed to set MSR 0x10a").

use std::process::Command;
use std::time::Duration;

use crate::host;
use crate::outcome::ProcessEnd;
use crate::process::run_streaming;

/// CPU models tried in order; the first that starts is used for KVM runs.
pub const CPU_MODELS: &[&str] = &["host,+invtsc", "host,-arch-capabilities,+invtsc"];

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct KvmProbe {
    pub usable: bool,
    /// The CPU model that works (when usable).
    pub cpu_model: Option<String>,
    /// Why KVM is not usable, or notes on how it is (a model refused before one worked).
    pub reason: String,
    /// kvm* modules loaded (kvm, kvm_intel, kvm_amd, kvm_pvm, ...).
    pub modules: Vec<String>,
    pub hw_virt: bool,
}

impl KvmProbe {
    pub fn backend(&self) -> Option<String> {
        host::kvm_backend(&self.modules)
    }

    /// The verdict as printed by `runner kvm-probe`.
    pub fn report(&self) -> String {
        let mut s = if self.usable {
            format!(
                "KVM: usable, CPU model '{}'",
                self.cpu_model.as_deref().unwrap_or("?")
            )
        } else {
            "KVM: not usable".to_string()
        };
        if !self.reason.is_empty() {
            s += &format!("\nreason: {}", self.reason);
        }
        s += &format!(
            "\nbackend: {}",
            if self.modules.is_empty() {
                "no kvm modules found".into()
            } else {
                self.modules.join(", ")
            }
        );
        if !self.hw_virt {
            s += "\nnote: the host CPU has no vmx/svm flag: a software KVM backend (such as \
                  kvm_pvm) makes guest page faults and IPIs far slower than hardware KVM";
        }
        s
    }
}

/// The line of QEMU's stderr that explains a refusal: the first `error` line, else the last
/// non-empty line.
pub fn explain_stderr(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .find(|l| l.to_ascii_lowercase().contains("error"))
        .or(lines.last())
        .map(|l| l.to_string())
}

/// Starts a paused KVM guest with `cpu` and quits it through QMP. Err: why it failed.
pub fn try_cpu_model(qemu: &str, cpu: &str) -> Result<(), String> {
    let mut cmd = Command::new(qemu);
    cmd.args([
        "-accel",
        "kvm",
        "-machine",
        "q35",
        "-cpu",
        cpu,
        "-m",
        "64M",
        "-display",
        "none",
        "-nodefaults",
        "-S",
        "-qmp",
        "stdio",
    ]);
    let mut returns = 0;
    let f = run_streaming(
        cmd,
        Some(b"{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n"),
        PROBE_TIMEOUT,
        |line| returns += usize::from(line.contains("\"return\"")),
    )
    .map_err(|e| format!("cannot start '{qemu}': {e}"))?;
    let why = |what: String| match explain_stderr(&f.stderr) {
        Some(line) => format!("{what}: {line}"),
        None => what,
    };
    match f.end {
        ProcessEnd::Status(0) if returns >= 1 => Ok(()),
        ProcessEnd::Status(s) => Err(why(format!("QEMU exited with status {s}"))),
        ProcessEnd::Signal(sig) => Err(why(format!("QEMU died of signal {sig}"))),
        ProcessEnd::Timeout(t) => Err(why(format!("QEMU did not answer QMP within {t} s"))),
        ProcessEnd::Interrupted(sig) => Err(why(format!(
            "the runner got {} during the probe",
            crate::signals::name(sig)
        ))),
    }
}

pub fn probe(qemu: &str) -> KvmProbe {
    let modules = host::kvm_modules();
    let hw_virt = host::host_has_hw_virt();
    let verdict = |usable, cpu_model, reason| KvmProbe {
        usable,
        cpu_model,
        reason,
        modules: modules.clone(),
        hw_virt,
    };
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "/dev/kvm does not exist (no KVM module loaded, or not passed to this container)"
                    .to_string()
            }
            std::io::ErrorKind::PermissionDenied => {
                "permission denied opening /dev/kvm read-write (add the user to the kvm group)"
                    .to_string()
            }
            _ => format!("cannot open /dev/kvm: {e}"),
        };
        return verdict(false, None, reason);
    }
    let mut refusals: Vec<(&str, String)> = Vec::new();
    for cpu in CPU_MODELS {
        match try_cpu_model(qemu, cpu) {
            Ok(()) => return verdict(true, Some(cpu.to_string()), describe_refusals(&refusals)),
            Err(e) => refusals.push((cpu, e)),
        }
    }
    verdict(false, None, describe_refusals(&refusals))
}

/// `-cpu A refused (why); -cpu B refused (why)`, or one sentence when every model failed alike.
pub fn describe_refusals(refusals: &[(&str, String)]) -> String {
    match refusals {
        [] => String::new(),
        [(_, first), rest @ ..] if !rest.is_empty() && rest.iter().all(|(_, e)| e == first) => {
            format!("every CPU model tried was refused: {first}")
        }
        _ => refusals
            .iter()
            .map(|(cpu, e)| format!("-cpu {cpu} refused ({e})"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_explanation() {
        let s = "qemu-system-x86_64: error: failed to set MSR 0x10a to 0xc000069\n\
                 qemu-system-x86_64: kvm.c:3849: kvm_buf_set_msrs: Assertion failed.\n";
        assert_eq!(
            explain_stderr(s).as_deref(),
            Some("qemu-system-x86_64: error: failed to set MSR 0x10a to 0xc000069")
        );
        assert_eq!(
            explain_stderr("\nlast words\n\n").as_deref(),
            Some("last words")
        );
        assert_eq!(explain_stderr(""), None);
    }

    #[test]
    fn refusals() {
        assert_eq!(describe_refusals(&[]), "");
        let one = [("host,+invtsc", "MSR".to_string())];
        assert_eq!(describe_refusals(&one), "-cpu host,+invtsc refused (MSR)");
        let same = [("a", "no KVM".to_string()), ("b", "no KVM".to_string())];
        assert_eq!(
            describe_refusals(&same),
            "every CPU model tried was refused: no KVM"
        );
        let diff = [("a", "x".to_string()), ("b", "y".to_string())];
        assert_eq!(
            describe_refusals(&diff),
            "-cpu a refused (x); -cpu b refused (y)"
        );
    }
}
