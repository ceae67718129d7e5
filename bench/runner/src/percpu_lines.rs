//! The per-CPU cache-line contract, checked on the built kernel: every per-CPU variable that
//! another CPU touches (the sources call `NAME.remote(cpu)` on it: shootdown pending sets
//! and request slots, the cross-CPU call slot, bring-up checks) sits alone in its 64-byte
//! cache lines. Otherwise a remote write invalidates the line under the owner's hot per-CPU
//! reads (the GS:0 self-pointer every access reads, SYSCALL scratch slots): false sharing that
//! shows in every cross-CPU figure.
//!
//! The variables come from the sources (`kernel/sys/src`, `kernel/src`), their addresses and
//! sizes from the `.percpu` section's symbols in the ELF (the section is linked at 0: an
//! address is the offset in every window, and windows are 16 MiB-aligned, so lines are the
//! same in every window).

use std::collections::BTreeSet;
use std::path::Path;

use object::{Object, ObjectSection, ObjectSymbol};

/// Bytes of a cache line (every current x86-64 part).
pub const LINE: u64 = 64;

/// A symbol of the `.percpu` section: demangled name, offset, size (a label of size 0, such
/// as the GS:0 self-pointer defined in assembly, counts as one 8-byte word).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Var {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

impl Var {
    fn lines(&self) -> (u64, u64) {
        let size = self.size.max(8);
        (self.offset / LINE, (self.offset + size - 1) / LINE)
    }

    /// The variable's own name (last path segment, hash suffix removed).
    fn short(&self) -> &str {
        self.name.rsplit("::").next().unwrap_or(&self.name)
    }
}

/// The `.percpu` symbols of an ELF.
pub fn percpu_vars(elf: &[u8]) -> Result<Vec<Var>, String> {
    let file = object::File::parse(elf).map_err(|e| format!("not an ELF: {e}"))?;
    let section = file
        .section_by_name(".percpu")
        .ok_or("the ELF has no .percpu section")?;
    let index = section.index();
    let mut vars: Vec<Var> = file
        .symbols()
        .filter(|s| s.section_index() == Some(index) && !s.name().unwrap_or("").is_empty())
        .filter(|s| {
            matches!(
                s.kind(),
                object::SymbolKind::Data | object::SymbolKind::Unknown
            )
        })
        .map(|s| Var {
            name: format!("{:#}", rustc_demangle::demangle(s.name().unwrap_or(""))),
            offset: s.address(),
            size: s.size(),
        })
        .collect();
    vars.sort_by_key(|v| (v.offset, v.name.clone()));
    vars.dedup();
    Ok(vars)
}

/// Names `X` of every `X.remote(` in the Rust sources under `roots`.
pub fn remote_names(roots: &[&Path]) -> Result<BTreeSet<String>, String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) -> Result<(), String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for e in entries {
            let p = e.map_err(|e| e.to_string())?.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).map_err(|e| e.to_string())?;
                out.extend(remote_names_in(&text));
            }
        }
        Ok(())
    }
    let mut out = BTreeSet::new();
    for r in roots {
        walk(r, &mut out)?;
    }
    Ok(out)
}

/// Names `X` of every `X.remote(` in one text (comments skipped).
pub fn remote_names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find(".remote(") {
            let name: String = rest[..i]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if !name.is_empty() && name.chars().all(|c| !c.is_ascii_lowercase()) {
                out.insert(name);
            }
            rest = &rest[i + 1..];
        }
    }
    out
}

/// Check that each variable named in `remote` sits alone in its lines; Ok lists each one's
/// placement, Err every conflict (and every remote name with no symbol).
pub fn check(vars: &[Var], remote: &BTreeSet<String>) -> Result<Vec<String>, Vec<String>> {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for name in remote {
        let Some(v) = vars.iter().find(|v| v.short() == name) else {
            bad.push(format!(
                "{name}: no .percpu symbol of that name in the kernel"
            ));
            continue;
        };
        let (first, last) = v.lines();
        let neighbours: Vec<&Var> = vars
            .iter()
            .filter(|o| o.name != v.name)
            .filter(|o| {
                let (f, l) = o.lines();
                f <= last && first <= l
            })
            .collect();
        if neighbours.is_empty() {
            ok.push(format!(
                "{name}: offset {:#x}, {} bytes, lines {first}..={last} alone",
                v.offset, v.size
            ));
        } else {
            for o in neighbours {
                bad.push(format!(
                    "{name} (offset {:#x}, {} bytes) shares a {LINE}-byte line with {} \
                     (offset {:#x}, {} bytes): other CPUs write it; pad it \
                     (percpu::CacheAligned)",
                    v.offset, v.size, o.name, o.offset, o.size
                ));
            }
        }
    }
    if bad.is_empty() { Ok(ok) } else { Err(bad) }
}

/// The whole check on a kernel ELF, with the sources of this repository.
pub fn check_kernel(kernel: &Path) -> Result<Vec<String>, Vec<String>> {
    let elf = std::fs::read(kernel).map_err(|e| vec![format!("{}: {e}", kernel.display())])?;
    let vars = percpu_vars(&elf).map_err(|e| vec![e])?;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let roots = [repo.join("kernel/sys/src"), repo.join("kernel/src")];
    let remote = remote_names(&[&roots[0], &roots[1]]).map_err(|e| vec![e])?;
    if remote.is_empty() {
        return Err(vec![
            "no `.remote(` in the kernel sources: wrong source tree?".into(),
        ]);
    }
    check(&vars, &remote)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, offset: u64, size: u64) -> Var {
        Var {
            name: name.into(),
            offset,
            size,
        }
    }

    #[test]
    fn remote_names_are_found_in_code_not_comments() {
        let text = "let s = SLOT.remote(cpu);\n// OLD.remote(1)\nPENDING.remote(t)[0].fetch_or(1);\nx.remote(2);\n";
        let names: Vec<String> = remote_names_in(text).into_iter().collect();
        assert_eq!(names, ["PENDING", "SLOT"]);
    }

    #[test]
    fn a_padded_variable_passes_and_an_unpadded_one_fails() {
        let remote: BTreeSet<String> = ["PENDING".to_string()].into();
        // Alone: 128-aligned, 128 bytes.
        let padded = [
            var("percpu_self", 0, 0),
            var("sys::arch::CPU_ID", 8, 4),
            var("sys::mm::tlb::transport::PENDING", 128, 128),
            var("sys::cpu::call::SLOT", 256, 128),
        ];
        assert!(check(&padded, &remote).is_ok());
        // Unpadded: the pending set right after the self-pointer, in its line.
        let unpadded = [
            var("percpu_self", 0, 0),
            var("sys::mm::tlb::transport::PENDING", 8, 64),
            var("sys::arch::CPU_ID", 72, 4),
        ];
        let e = check(&unpadded, &remote).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("percpu_self"), "{e:?}");
        // A remote name with no symbol is an error, not a pass.
        let missing: BTreeSet<String> = ["GONE".to_string()].into();
        assert!(check(&padded, &missing).is_err());
    }
}
