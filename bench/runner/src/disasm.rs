//! Contracts checked on the built kernel's machine code, disassembled with binutils' `objdump`:
//! - the per-CPU accessors: every scalar accessor (`PerCpu::read`, `write`, `add`, at 8, 16, 32
//!   and 64 bits) compiles to exactly one `%gs:`-relative instruction. The kernel keeps one
//!   out-of-line probe function per accessor (`percpu_probe_<op>_<width>`,
//!   kernel/src/cpu_local.rs);
//! - the x2APIC IPI ordering: in `arch::apic::send_ipi`, every WRMSR (the x2APIC ICR write,
//!   which is not serialising) comes right after `mfence; lfence`, with only register moves
//!   between, so an IPI cannot overtake the stores it announces.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Accessor operations and widths the kernel provides probes for.
pub const OPS: &[&str] = &["read", "write", "add"];
pub const WIDTHS: &[&str] = &["u8", "u16", "u32", "u64"];

/// One disassembled instruction: mnemonic and operand text (Intel syntax).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insn {
    pub mnemonic: String,
    pub operands: String,
}

impl Insn {
    fn uses_gs(&self) -> bool {
        self.operands.contains("gs:")
    }
}

/// Split `objdump -d -M intel --no-show-raw-insn` output into functions by symbol name.
pub fn parse_objdump(text: &str) -> BTreeMap<String, Vec<Insn>> {
    let mut out: BTreeMap<String, Vec<Insn>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        // "ffffffff8020f990 <percpu_probe_add_u16>:"
        if let Some(rest) = line.strip_suffix(">:")
            && let Some((addr, name)) = rest.split_once(" <")
            && u64::from_str_radix(addr.trim(), 16).is_ok()
        {
            current = Some(name.to_string());
            out.entry(name.to_string()).or_default();
            continue;
        }
        // "ffffffff8020f99d:\tadd    WORD PTR gs:[rcx],ax"
        let Some(name) = &current else { continue };
        let Some((addr, insn)) = line.split_once(":\t") else {
            if line.trim().is_empty() {
                current = None;
            }
            continue;
        };
        if u64::from_str_radix(addr.trim(), 16).is_err() {
            continue;
        }
        let insn = insn.trim();
        let (mnemonic, operands) = insn.split_once(char::is_whitespace).unwrap_or((insn, ""));
        out.get_mut(name).expect("entry made above").push(Insn {
            mnemonic: mnemonic.to_string(),
            operands: operands.trim().to_string(),
        });
    }
    out
}

/// Check one probe: exactly one instruction touches `gs:`, it has the operation's mnemonic
/// (`mov`/`movzx` for read and write, `add` for add) and, for write and add, GS memory is the
/// destination; nothing is called.
pub fn check_probe(op: &str, insns: &[Insn]) -> Result<(), String> {
    let gs: Vec<&Insn> = insns.iter().filter(|i| i.uses_gs()).collect();
    if gs.len() != 1 {
        let list: Vec<String> = insns
            .iter()
            .map(|i| format!("{} {}", i.mnemonic, i.operands))
            .collect();
        return Err(format!(
            "{} gs:-relative instructions, expected 1 (body: {})",
            gs.len(),
            list.join("; ")
        ));
    }
    if let Some(c) = insns.iter().find(|i| i.mnemonic.starts_with("call")) {
        return Err(format!("calls {}", c.operands));
    }
    let i = gs[0];
    let dest_is_gs = i
        .operands
        .split(',')
        .next()
        .is_some_and(|d| d.contains("gs:"));
    let ok = match op {
        "read" => matches!(i.mnemonic.as_str(), "mov" | "movzx") && !dest_is_gs,
        "write" => i.mnemonic == "mov" && dest_is_gs,
        "add" => i.mnemonic == "add" && dest_is_gs,
        _ => return Err(format!("unknown accessor operation {op}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the gs: instruction is `{} {}`, not a {op}",
            i.mnemonic, i.operands
        ))
    }
}

/// Check every probe in `functions`. Returns one line per probe checked, or every failure.
pub fn check_all(functions: &BTreeMap<String, Vec<Insn>>) -> Result<Vec<String>, Vec<String>> {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for op in OPS {
        for w in WIDTHS {
            let name = format!("percpu_probe_{op}_{w}");
            match functions.get(&name) {
                None => bad.push(format!("{name}: not in the kernel ELF")),
                Some(insns) => match check_probe(op, insns) {
                    Ok(()) => {
                        let gs = insns.iter().find(|i| i.uses_gs()).expect("checked");
                        ok.push(format!("{name}: {} {}", gs.mnemonic, gs.operands));
                    }
                    Err(e) => bad.push(format!("{name}: {e}")),
                },
            }
        }
    }
    if bad.is_empty() { Ok(ok) } else { Err(bad) }
}

/// The mangled-name fragment of `kernel::arch::apic::send_ipi`.
pub const SEND_IPI: &str = "4arch4apic8send_ipi";

/// Check the IPI fence: `send_ipi` exists once, holds at least one WRMSR, and each WRMSR is
/// preceded by `lfence` and that by `mfence`, with nothing but `mov`s after the LFENCE.
pub fn check_ipi_fence(functions: &BTreeMap<String, Vec<Insn>>) -> Result<String, String> {
    let found: Vec<(&String, &Vec<Insn>)> = functions
        .iter()
        .filter(|(n, _)| n.contains(SEND_IPI))
        .collect();
    let [(name, insns)] = found[..] else {
        return Err(format!(
            "{} functions named *{SEND_IPI}*, expected 1 (is it inlined?)",
            found.len()
        ));
    };
    let mut wrmsrs = 0;
    for (k, i) in insns.iter().enumerate() {
        if i.mnemonic != "wrmsr" {
            continue;
        }
        wrmsrs += 1;
        let before: Vec<&str> = insns[..k]
            .iter()
            .rev()
            .map(|i| i.mnemonic.as_str())
            .skip_while(|m| *m == "mov")
            .take(2)
            .collect();
        if before != ["lfence", "mfence"] {
            return Err(format!(
                "{name}: WRMSR #{wrmsrs} is preceded by {before:?}, not by mfence; lfence"
            ));
        }
    }
    if wrmsrs == 0 {
        return Err(format!("{name}: no WRMSR (the x2APIC path is gone?)"));
    }
    Ok(format!("{name}: {wrmsrs} WRMSR, each after mfence; lfence"))
}

/// Disassemble `elf` with objdump into its functions.
pub fn disassemble(elf: &Path) -> Result<BTreeMap<String, Vec<Insn>>, String> {
    let out = Command::new("objdump")
        .args(["-d", "-M", "intel", "--no-show-raw-insn"])
        .arg(elf)
        .output()
        .map_err(|e| format!("cannot run objdump (package binutils): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "objdump failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(parse_objdump(&String::from_utf8_lossy(&out.stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
ffffffff8020f990 <percpu_probe_add_u16>:
ffffffff8020f990:\tpush   rbp
ffffffff8020f991:\tmov    rbp,rsp
ffffffff8020f996:\tmov    rcx,0xa
ffffffff8020f99d:\tadd    WORD PTR gs:[rcx],ax
ffffffff8020f9a1:\tpop    rbp
ffffffff8020f9a2:\tret

ffffffff8020fa10 <percpu_probe_read_u16>:
ffffffff8020fa14:\tmov    rcx,0xa
ffffffff8020fa1b:\tmovzx  eax,WORD PTR gs:[rcx]
ffffffff8020fa1f:\tret
";

    #[test]
    fn parses_functions() {
        let f = parse_objdump(GOOD);
        assert_eq!(f.len(), 2);
        let add = &f["percpu_probe_add_u16"];
        assert_eq!(add.len(), 6);
        assert_eq!(add[3].mnemonic, "add");
        assert_eq!(add[3].operands, "WORD PTR gs:[rcx],ax");
    }

    #[test]
    fn accepts_single_gs_instruction() {
        let f = parse_objdump(GOOD);
        check_probe("add", &f["percpu_probe_add_u16"]).unwrap();
        check_probe("read", &f["percpu_probe_read_u16"]).unwrap();
    }

    #[test]
    fn rejects_two_gs_instructions() {
        // What a read-modify-write through a separate load and store would look like.
        let text = "\
ffffffff80200000 <percpu_probe_add_u64>:
ffffffff80200000:\tmov    rax,QWORD PTR gs:[rcx]
ffffffff80200004:\tadd    rax,rdi
ffffffff80200007:\tmov    QWORD PTR gs:[rcx],rax
ffffffff8020000b:\tret
";
        let f = parse_objdump(text);
        let e = check_probe("add", &f["percpu_probe_add_u64"]).unwrap_err();
        assert!(e.contains("2 gs:-relative"), "{e}");
    }

    #[test]
    fn rejects_self_pointer_indirection() {
        // Reading the window base through gs:0 and then a plain load: one gs: instruction,
        // but not the accessor's own access.
        let text = "\
ffffffff80200000 <percpu_probe_write_u32>:
ffffffff80200000:\tmov    rax,QWORD PTR gs:0x0
ffffffff80200009:\tmov    DWORD PTR [rax+0xc],edi
ffffffff8020000c:\tret
";
        let f = parse_objdump(text);
        let e = check_probe("write", &f["percpu_probe_write_u32"]).unwrap_err();
        assert!(e.contains("not a write"), "{e}");
    }

    #[test]
    fn ipi_fence() {
        let good = "\
ffffffff80223dd0 <_ZN6kernel4arch4apic8send_ipi17h3a2ad77f55a8047dE>:
ffffffff80223ddd:\tje     ffffffff80223dfa
ffffffff80223ddf:\tmfence
ffffffff80223de2:\tlfence
ffffffff80223de5:\tmov    ecx,0x830
ffffffff80223dea:\tmov    eax,esi
ffffffff80223dec:\tmov    edx,edi
ffffffff80223dee:\twrmsr
ffffffff80223df0:\tret
";
        let ok = check_ipi_fence(&parse_objdump(good)).unwrap();
        assert!(ok.contains("1 WRMSR"), "{ok}");
        // No LFENCE (MFENCE does not order a WRMSR): refused.
        let no_lfence = good.replace("ffffffff80223de2:\tlfence\n", "");
        let e = check_ipi_fence(&parse_objdump(&no_lfence)).unwrap_err();
        assert!(e.contains("not by mfence; lfence"), "{e}");
        // No fence at all, or a fence far from the WRMSR.
        let far = good.replace("mov    eax,esi", "add    eax,esi");
        assert!(check_ipi_fence(&parse_objdump(&far)).is_err());
        // Inlined (no such function) or without its WRMSR.
        assert!(
            check_ipi_fence(&parse_objdump(""))
                .unwrap_err()
                .contains("0 functions")
        );
        let no_wrmsr = good.replace("\twrmsr", "\tnop");
        assert!(
            check_ipi_fence(&parse_objdump(&no_wrmsr))
                .unwrap_err()
                .contains("no WRMSR")
        );
    }

    #[test]
    fn rejects_calls_and_missing_probes() {
        let text = "\
ffffffff80200000 <percpu_probe_read_u8>:
ffffffff80200000:\tcall   ffffffff80201000 <helper>
ffffffff80200005:\tmovzx  eax,BYTE PTR gs:[rcx]
ffffffff80200009:\tret
";
        let f = parse_objdump(text);
        assert!(
            check_probe("read", &f["percpu_probe_read_u8"])
                .unwrap_err()
                .contains("calls")
        );
        let errs = check_all(&f).unwrap_err();
        // 12 probes: one calls, 11 missing.
        assert_eq!(errs.len(), 12);
        assert_eq!(
            errs.iter()
                .filter(|e| e.contains("not in the kernel ELF"))
                .count(),
            11
        );
    }
}
