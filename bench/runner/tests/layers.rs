//! The kernel's layers inside the `sys` crate (between crates, cargo refuses import circles):
//! no module of a lower layer names a module of a higher one. Read from the sources, so a
//! change that calls up fails here, with the file and the path it names.
//!
//! Layers, lowest first (docs/DESIGN.md, "Layers"):
//!   0 arch (registers, instructions, descriptor tables)
//!   1 console (the serial line and its records; every layer may log)
//!   2 mm core (frames, page tables, the direct map, probed memory)
//!   3 platform (boot information, ACPI, the fixed timers)
//!   4 cpu (per-CPU windows, AP bring-up, cross-CPU calls, TSC checks)
//!   5 mechanisms: mm::fault, mm::tlb, mm::uspace
//!   6 run control: screen, run (exit, fatal reports, the context record)
//!   7 trap (the exception routing, handed to arch from above)

use std::path::{Path, PathBuf};

/// Layer of a module path (`["mm", "tlb", "transport"]`), by its longest listed prefix.
fn layer_of(path: &[String]) -> Option<u32> {
    const TABLE: &[(&str, u32)] = &[
        ("arch", 0),
        ("exception_entry", 0),
        ("console", 1),
        ("println", 1),
        ("print", 1),
        ("record", 1),
        ("record_with", 1),
        ("kernel_core", 0),
        ("mm", 2),
        ("platform", 3),
        ("cpu", 4),
        ("mm::fault", 5),
        ("mm::tlb", 5),
        ("mm::uspace", 5),
        ("screen", 6),
        ("run", 6),
        ("trap", 7),
    ];
    let joined = path.join("::");
    TABLE
        .iter()
        .filter(|(p, _)| joined == *p || joined.starts_with(&format!("{p}::")))
        .max_by_key(|(p, _)| p.len())
        .map(|&(_, l)| l)
}

/// The module path of a source file under `src/` (`mm/tlb/mod.rs` → `["mm", "tlb"]`).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Every module path a source text names through `crate::` (grouped imports included),
/// `super::`, or a child module it declares, with its line number. Comments are skipped.
fn references(text: &str, module: &[String]) -> Vec<(usize, Vec<String>)> {
    let children: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim_start().trim_start_matches("pub ");
            l.strip_prefix("mod ")
                .map(|r| r.trim_end_matches(';').trim().to_string())
        })
        .collect();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let before = rest[..i].chars().last();
            let after = &rest[i + "crate::".len()..];
            rest = after;
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
                continue; // `$crate::` in a macro, or part of another name
            }
            if let Some(group) = after.strip_prefix('{') {
                for item in group.split('}').next().unwrap_or("").split(',') {
                    let item = item.trim();
                    let mut p = vec![ident_at(item)];
                    if let Some(tail) = item.strip_prefix(&format!("{}::", p[0])) {
                        let second = ident_at(tail);
                        if !second.is_empty() && second != "self" {
                            p.push(second);
                        }
                    }
                    if !p[0].is_empty() {
                        out.push((n + 1, p));
                    }
                }
            } else {
                let first = ident_at(after);
                let mut p = vec![first.clone()];
                if let Some(tail) = after.strip_prefix(&format!("{first}::")) {
                    let second = ident_at(tail);
                    if !second.is_empty() {
                        p.push(second);
                    }
                }
                out.push((n + 1, p));
            }
        }
        let mut rest = code;
        while let Some(i) = rest.find("super::") {
            let after = &rest[i + "super::".len()..];
            rest = after;
            let mut p: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
            p.push(ident_at(after));
            out.push((n + 1, p));
        }
        for child in &children {
            let pat = format!("{child}::");
            let mut from = 0;
            while let Some(i) = code[from..].find(&pat) {
                let at = from + i;
                from = at + pat.len();
                let before = code[..at].chars().last();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let mut p = module.to_vec();
                p.push(child.clone());
                out.push((n + 1, p));
            }
        }
    }
    out
}

/// Every upward reference in the sources under `src`: (file, line, what it names).
fn violations(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut bad = Vec::new();
    for (rel, text) in files {
        let module = module_of(rel);
        if module.is_empty() {
            continue; // lib.rs: the crate root declares every layer
        }
        let Some(own) = layer_of(&module) else {
            bad.push(format!("{}: a module no layer lists", rel.display()));
            continue;
        };
        for (line, path) in references(text, &module) {
            if let Some(l) = layer_of(&path)
                && l > own
            {
                bad.push(format!(
                    "{}:{line}: layer {own} names {} (layer {l})",
                    rel.display(),
                    path.join("::")
                ));
            }
        }
    }
    bad
}

fn sources(root: &Path) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
        for e in std::fs::read_dir(dir).expect("read the sources") {
            let p = e.expect("a directory entry").path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).expect("read a source");
                out.push((p.strip_prefix(root).unwrap().to_path_buf(), text));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[test]
fn no_lower_layer_of_sys_names_a_higher_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernel/sys/src");
    let files = sources(&root);
    assert!(
        files.len() > 20,
        "the sys sources are where this test expects them"
    );
    let bad = violations(&files);
    assert!(bad.is_empty(), "calls up the layers:\n{}", bad.join("\n"));
}

#[test]
fn the_check_catches_an_upward_import() {
    // Negative controls: each of these must be reported.
    let cases = [
        ("arch/idt.rs", "use crate::trap;\n"),
        ("console.rs", "fn f() { crate::screen::put_byte(0) }\n"),
        ("mm/mod.rs", "use crate::{println, cpu::smp};\n"),
        ("mm/mod.rs", "pub mod tlb;\nfn f() { tlb::shootdown(); }\n"),
        ("cpu/smp.rs", "use crate::mm::tlb::Request;\n"),
        ("mm/tlb/transport.rs", "use crate::run::fatal;\n"),
        ("arch/tsc/serialized.rs", "use crate::cpu::local;\n"),
    ];
    for (file, text) in cases {
        let bad = violations(&[(PathBuf::from(file), text.to_string())]);
        assert!(!bad.is_empty(), "{file}: {text:?} was not caught");
    }
    // And what is allowed is not reported.
    let fine = [
        (
            "trap.rs",
            "use crate::mm::{fault, uspace};\nuse crate::run::fatal;\n",
        ),
        (
            "mm/tlb/transport.rs",
            "use crate::cpu::smp;\nuse super::Request;\n",
        ),
        (
            "console.rs",
            "macro_rules! m { () => { $crate::screen::x() } }\n// crate::trap\n",
        ),
    ];
    for (file, text) in fine {
        let bad = violations(&[(PathBuf::from(file), text.to_string())]);
        assert!(bad.is_empty(), "{file}: {bad:?}");
    }
}
