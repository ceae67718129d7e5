//! The per-CPU accessor contract, checked on the built kernel: every scalar accessor
//! (`PerCpu::read`, `write`, `add`, at 8, 16, 32 and 64 bits) compiles to exactly one
//! `%gs:`-relative instruction. The kernel keeps one out-of-line probe function per accessor
//! (`percpu_probe_<op>_<width>`, kernel/src/cpu_local.rs); this module disassembles them with
//! binutils' `objdump` and checks each.

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

/// Disassemble `elf` with objdump and check every probe.
pub fn check_elf(elf: &Path) -> Result<Vec<String>, Vec<String>> {
    let out = Command::new("objdump")
        .args(["-d", "-M", "intel", "--no-show-raw-insn"])
        .arg(elf)
        .output()
        .map_err(|e| vec![format!("cannot run objdump (package binutils): {e}")])?;
    if !out.status.success() {
        return Err(vec![format!(
            "objdump failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )]);
    }
    check_all(&parse_objdump(&String::from_utf8_lossy(&out.stdout)))
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
