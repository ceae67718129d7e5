//! Backtrace symbolisation: `backtrace: #3 0xffffffff80201234` becomes
//! `backtrace: #3 0xffffffff80201234 kernel::mm::map+0x34`, and `rip: 0x...` likewise.

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

#[derive(Clone, Debug, PartialEq)]
pub struct Symbol {
    pub addr: u64,
    /// 0 = unknown (assembly labels): the symbol extends to the next one.
    pub size: u64,
    /// Demangled, without the hash suffix.
    pub name: String,
}

#[derive(Clone, Debug, Default)]
pub struct SymbolTable {
    syms: Vec<Symbol>,
}

impl SymbolTable {
    /// Builds a table from any symbols (names demangled here); at one address the symbol with the
    /// largest size is kept.
    pub fn new(mut syms: Vec<Symbol>) -> SymbolTable {
        for s in &mut syms {
            s.name = format!("{:#}", rustc_demangle::demangle(&s.name));
        }
        syms.sort_by(|a, b| a.addr.cmp(&b.addr).then(b.size.cmp(&a.size)));
        syms.dedup_by(|later, first| later.addr == first.addr);
        SymbolTable { syms }
    }

    /// The function symbols of an ELF image.
    pub fn from_elf(data: &[u8]) -> Result<SymbolTable, String> {
        let file = object::File::parse(data).map_err(|e| format!("cannot parse ELF: {e}"))?;
        let syms = file
            .symbols()
            .filter(|s| s.address() != 0)
            // Functions, and untyped labels in executable sections (assembly entry stubs).
            .filter(|s| match s.kind() {
                SymbolKind::Text => true,
                SymbolKind::Unknown => s
                    .section_index()
                    .and_then(|i| file.section_by_index(i).ok())
                    .is_some_and(|sec| sec.kind() == SectionKind::Text),
                _ => false,
            })
            .filter_map(|s| {
                let name = s.name().ok()?;
                (!name.is_empty()).then(|| Symbol {
                    addr: s.address(),
                    size: s.size(),
                    name: name.to_string(),
                })
            })
            .collect::<Vec<_>>();
        if syms.is_empty() {
            return Err("the ELF has no function symbols (stripped?)".into());
        }
        Ok(SymbolTable::new(syms))
    }

    pub fn len(&self) -> usize {
        self.syms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// The symbol containing `addr` and the offset into it.
    pub fn lookup(&self, addr: u64) -> Option<(&str, u64)> {
        let idx = self.syms.partition_point(|s| s.addr <= addr);
        let s = self.syms.get(idx.checked_sub(1)?)?;
        let off = addr - s.addr;
        (s.size == 0 || off < s.size).then_some((s.name.as_str(), off))
    }
}

fn parse_hex(tok: &str) -> Option<u64> {
    let h = tok.strip_prefix("0x").or_else(|| tok.strip_prefix("0X"))?;
    u64::from_str_radix(&h.replace('_', ""), 16).ok()
}

/// Adds `symbol+0xoff` after the first address following `backtrace:` or `rip:` in a line. For
/// backtrace frames other than `#0` the address is a return address, so the symbol is looked up
/// at address − 1 (a call that ends a function returns into the next one); the offset shown is
/// still from the address printed. Lines without such an address, or with an address outside every
/// symbol, are returned unchanged.
pub fn annotate_line(line: &str, table: &SymbolTable) -> String {
    if table.is_empty() {
        return line.to_string();
    }
    let Some((marker_end, is_backtrace)) = ["backtrace:", "rip:"]
        .iter()
        .filter_map(|m| line.find(m).map(|i| (i + m.len(), *m == "backtrace:")))
        .min_by_key(|&(i, _)| i)
    else {
        return line.to_string();
    };
    let rest = &line[marker_end..];
    let mut return_address = false;
    let mut pos = marker_end;
    for tok in rest.split_inclusive(|c: char| c.is_whitespace() || c == ',') {
        let word = tok.trim_end_matches(|c: char| c.is_whitespace() || c == ',');
        if let Some(n) = word.strip_prefix('#') {
            return_address = is_backtrace && n.parse::<u32>().is_ok_and(|n| n > 0);
        } else if let Some(addr) = parse_hex(word) {
            let probe = if return_address {
                addr.saturating_sub(1)
            } else {
                addr
            };
            let Some((name, off)) = table.lookup(probe) else {
                return line.to_string();
            };
            let start = probe - off;
            let end = pos + word.len();
            return format!(
                "{} {name}+{:#x}{}",
                &line[..end],
                addr - start,
                &line[end..]
            );
        } else if !word.is_empty() {
            // Another word before any address: only `#N` may come first.
            if !word.starts_with('#') && !word.ends_with(':') {
                return line.to_string();
            }
        }
        pos += tok.len();
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> SymbolTable {
        SymbolTable::new(vec![
            Symbol {
                addr: 0xffffffff80201200,
                size: 0x80,
                name: "_ZN6kernel2mm3map17h0123456789abcdefE".into(),
            },
            Symbol {
                addr: 0xffffffff80201280,
                size: 0x20,
                name: "kernel_main".into(),
            },
            Symbol {
                addr: 0xffffffff80100000,
                size: 0,
                name: "_start".into(),
            },
            Symbol {
                addr: 0xffffffff80100000,
                size: 0x10,
                name: "boot_entry".into(),
            },
        ])
    }

    #[test]
    fn lookup() {
        let t = table();
        assert_eq!(t.len(), 3);
        assert_eq!(
            t.lookup(0xffffffff80201234),
            Some(("kernel::mm::map", 0x34))
        );
        assert_eq!(t.lookup(0xffffffff80201280), Some(("kernel_main", 0)));
        assert_eq!(t.lookup(0xffffffff802012a0), None);
        assert_eq!(t.lookup(0xffffffff80100004), Some(("boot_entry", 4)));
        assert_eq!(t.lookup(0x1000), None);
    }

    #[test]
    fn reads_a_real_elf() {
        // This test binary is an ELF with a symbol table.
        let data = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let t = SymbolTable::from_elf(&data).unwrap();
        assert!(
            t.syms
                .iter()
                .any(|s| s.name.contains("runner::symbols::annotate_line"))
        );
        assert!(SymbolTable::from_elf(b"not an elf").is_err());
    }

    #[test]
    fn annotate() {
        let t = table();
        assert_eq!(
            annotate_line("backtrace: #3 0xffffffff80201234", &t),
            "backtrace: #3 0xffffffff80201234 kernel::mm::map+0x34"
        );
        assert_eq!(
            annotate_line("  rip: 0xffffffff80201281 rsp: 0xffffff8000010000", &t),
            "  rip: 0xffffffff80201281 kernel_main+0x1 rsp: 0xffffff8000010000"
        );
        // A return address just past the end of a function belongs to the caller.
        assert_eq!(
            annotate_line("backtrace: #1 0xffffffff80201280", &t),
            "backtrace: #1 0xffffffff80201280 kernel::mm::map+0x80"
        );
        assert_eq!(
            annotate_line("backtrace: #0 0xffffffff80201280", &t),
            "backtrace: #0 0xffffffff80201280 kernel_main+0x0"
        );
        for unchanged in [
            "backtrace: #2 0x1234",
            "booting kernel",
            "backtrace: end",
            "rip: garbage",
            "backtrace: #2 0xzz",
        ] {
            assert_eq!(annotate_line(unchanged, &t), unchanged);
        }
        assert_eq!(
            annotate_line("backtrace: #3 0xffffffff80201234", &SymbolTable::default()),
            "backtrace: #3 0xffffffff80201234"
        );
    }
}
