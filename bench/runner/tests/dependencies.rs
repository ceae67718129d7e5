//! Every dependency a workspace crate declares is used by it (the unused-dependency check of
//! CI, without installing a tool): each name under `[dependencies]`, `[build-dependencies]`
//! or `[dev-dependencies]` must appear in the crate's Rust sources as a path
//! (`name::`, `use name`, `extern crate name`), hyphens read as underscores.

use std::fs;
use std::path::{Path, PathBuf};

/// The dependency names of one Cargo.toml, with the section each is in.
fn declared(manifest: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        if !section.ends_with("dependencies") || t.starts_with('#') || t.is_empty() {
            continue;
        }
        if let Some((name, _)) = t.split_once('=') {
            out.push((name.trim().to_string(), section.clone()));
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() && p.file_name().is_some_and(|n| n != "target") {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The declared dependencies of the crate at `dir` that its sources never name.
fn unused(dir: &Path) -> Vec<String> {
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let text: String = files
        .iter()
        .map(|f| fs::read_to_string(f).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    declared(&manifest)
        .into_iter()
        .filter(|(name, _)| {
            let id = name.replace('-', "_");
            ![
                format!("{id}::"),
                format!("use {id}"),
                format!("extern crate {id}"),
            ]
            .iter()
            .any(|pat| text.contains(pat.as_str()))
        })
        .map(|(name, section)| format!("{} [{section}] {name}", dir.display()))
        .collect()
}

fn workspace_members(root: &Path) -> Vec<PathBuf> {
    let m = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let line = m
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("a members list");
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(|p| root.join(p))
        .collect()
}

#[test]
fn every_declared_dependency_is_used() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let members = workspace_members(&root);
    assert!(members.len() >= 8, "{members:?}");
    let bad: Vec<String> = members.iter().flat_map(|m| unused(m)).collect();
    assert!(bad.is_empty(), "declared but never used: {bad:#?}");
}

#[test]
fn an_unused_dependency_is_caught() {
    let dir = std::env::temp_dir().join(format!("deps-test-{}", std::process::id()));
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"x\"\n\n[dependencies]\n# why\nserde-json = \"1\"\nspin = { version = \"0.12\" }\n\n[lints]\nworkspace = true\n",
    )
    .unwrap();
    fs::write(dir.join("src/lib.rs"), "use serde_json::Value;\n").unwrap();
    let u = unused(&dir);
    assert_eq!(u.len(), 1, "{u:?}");
    assert!(u[0].ends_with("[dependencies] spin"), "{u:?}");
    fs::remove_dir_all(&dir).unwrap();
}
