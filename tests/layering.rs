//! The library's layers point down only. `src/lib.rs` lists its modules bottom-up in its docs; a
//! module may name (`crate::x`, `super::…` out of itself) only modules listed before it. This test reads
//! every library source file, so an upward or cyclic import fails here with the file and line,
//! not months later as a knot.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers bottom-up, as the first `text` block of `src/lib.rs`'s documentation lists them
/// (one `module  what it does` line each; rustfmt sorts `pub mod` lines, so their order cannot
/// carry the layering), checked to be exactly the modules `lib.rs` declares.
fn layers(lib_rs: &str) -> Vec<String> {
    let doc: Vec<&str> = lib_rs.lines().filter_map(|l| l.strip_prefix("//!")).map(str::trim).collect();
    let start = doc.iter().position(|l| *l == "```text").expect("lib.rs docs have a ```text block of layers");
    let order: Vec<String> = doc[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with("```"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    let mut declared: Vec<String> = strip(lib_rs)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("pub mod ").or_else(|| l.strip_prefix("mod "))?;
            Some(rest.trim_end_matches(';').trim().to_string())
        })
        .collect();
    declared.sort();
    let mut listed = order.clone();
    listed.sort();
    assert_eq!(listed, declared, "the layer list in lib.rs's docs and the declared modules differ");
    order
}

/// Source with comments and string/char literals blanked (newlines kept, so line numbers hold):
/// doc links and error texts may name any module; only code counts.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |c: u8| if c == b'\n' { b'\n' } else { b' ' };
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if b[i] == b'r' && (b[i..].starts_with(b"r\"") || b[i..].starts_with(b"r#")) && !ident_before(b, i) {
            // raw string r#"…"#
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            if b.get(i + 1 + hashes) != Some(&b'"') {
                out.push(b[i]);
                i += 1;
                continue;
            }
            let end: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            let start = i + 2 + hashes;
            let close = b[start..].windows(end.len()).position(|w| w == end.as_slice()).map_or(b.len(), |p| start + p);
            for &c in &b[i..(close + end.len()).min(b.len())] {
                out.push(blank(c));
            }
            i = (close + end.len()).min(b.len());
        } else if b[i] == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                let step = if b[i] == b'\\' { 2 } else { 1 };
                for &c in &b[i..(i + step).min(b.len())] {
                    out.push(blank(c));
                }
                i += step;
            }
            out.push(b' ');
            i += 1;
        } else if b[i] == b'\'' && is_char_literal(b, i) {
            let len = b[i + 1..].iter().skip(1).position(|&c| c == b'\'').map_or(1, |p| p + 3);
            out.extend(std::iter::repeat_n(b' ', len.min(b.len() - i)));
            i += len;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// `'x'`, `'\n'`, `'\''`, `'\u{..}'` — not a lifetime `'a`.
fn is_char_literal(b: &[u8], i: usize) -> bool {
    match (b.get(i + 1), b.get(i + 2)) {
        (Some(b'\\'), _) => true,
        (Some(_), Some(b'\'')) => true,
        // a multi-byte UTF-8 char
        (Some(c), _) if *c >= 0x80 => b[i + 1..].iter().take(5).any(|&c| c == b'\''),
        _ => false,
    }
}

/// The top-level modules a source file names, with the line of each mention. `module_path` is
/// the file's module path below the crate root (e.g. `["accel", "fast"]`), for `super::`.
fn references(src: &str, module_path: &[String]) -> Vec<(String, usize)> {
    let code = strip(src);
    let mut out = Vec::new();
    for (ln, line) in code.lines().enumerate() {
        let mut rest = line;
        while let Some(p) = find_path_start(rest) {
            let (kind, after) = p;
            let (targets, tail) = match kind {
                Start::Crate => group_heads(after),
                Start::Super(n) => {
                    // `super` n times from the file's own module path reaches the crate root
                    // when n ≥ its depth. (Inside an inline `mod tests`, `super` is one level
                    // less; such a path names no top-level module, so it is skipped below.)
                    if n >= module_path.len() {
                        let (heads, tail) = group_heads(after);
                        (heads.into_iter().map(|h| format!("super:{h}")).collect(), tail)
                    } else {
                        let (_, tail) = group_heads(after);
                        (vec![], tail)
                    }
                }
            };
            out.extend(targets.into_iter().map(|t| (t, ln + 1)));
            rest = tail;
        }
    }
    out
}

enum Start {
    Crate,
    /// How many `super::` in a row.
    Super(usize),
}

/// The next `crate::` or `super::…::` path start in `s` (not part of a longer identifier).
fn find_path_start(s: &str) -> Option<(Start, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if ident_before(b, i) {
            i += 1;
            continue;
        }
        if s[i..].starts_with("crate::") {
            return Some((Start::Crate, &s[i + 7..]));
        }
        if s[i..].starts_with("super::") {
            let mut n = 0;
            let mut j = i;
            while s[j..].starts_with("super::") {
                n += 1;
                j += 7;
            }
            return Some((Start::Super(n), &s[j..]));
        }
        i += 1;
    }
    None
}

/// The first identifiers after a path start: `x::…` → `[x]`, `{x::a, y, z::{..}}` → `[x, y, z]`.
fn group_heads(s: &str) -> (Vec<String>, &str) {
    let s = s.trim_start();
    if let Some(inner) = s.strip_prefix('{') {
        let mut depth = 1;
        let mut end = inner.len();
        for (k, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = &inner[..end];
        let mut heads = Vec::new();
        let mut depth = 0;
        let mut at_item_start = true;
        let mut cur = String::new();
        for c in body.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => at_item_start = true,
                _ => {}
            }
            if depth == 0 && at_item_start {
                if c.is_alphanumeric() || c == '_' {
                    cur.push(c);
                } else if !cur.is_empty() {
                    heads.push(std::mem::take(&mut cur));
                    at_item_start = false;
                }
            }
        }
        if !cur.is_empty() {
            heads.push(cur);
        }
        (heads, &inner[(end + 1).min(inner.len())..])
    } else {
        let len = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
        (if len > 0 { vec![s[..len].to_string()] } else { vec![] }, &s[len..])
    }
}

/// Every `.rs` file of a top-level module with its module path.
fn module_files(src: &Path, module: &str) -> Vec<(PathBuf, Vec<String>)> {
    let mut out = Vec::new();
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        out.push((file, vec![module.to_string()]));
    }
    let mut stack = vec![(src.join(module), vec![module.to_string()])];
    while let Some((dir, path)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.filter_map(Result::ok) {
            let p = e.path();
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                let mut sub = path.clone();
                sub.push(stem);
                stack.push((p, sub));
            } else if p.extension().is_some_and(|x| x == "rs") {
                let mut sub = path.clone();
                if stem != "mod" {
                    sub.push(stem);
                }
                out.push((p, sub));
            }
        }
    }
    out.sort();
    out
}

/// Every import that does not point strictly down: `(file, line, from, to)`.
fn violations(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let order = layers(&lib);
    // `#[macro_export]` macros are named `crate::m!` wherever they are defined: they belong to
    // the module whose file defines them.
    let mut macros = std::collections::HashMap::new();
    for m in &order {
        for (file, _) in module_files(src, m) {
            let text = strip(&std::fs::read_to_string(&file).unwrap());
            for (i, _) in text.match_indices("#[macro_export]") {
                let rest = &text[i..];
                if let Some(name) = rest.split("macro_rules!").nth(1).and_then(|r| r.split_whitespace().next()) {
                    macros.insert(name.to_string(), m.clone());
                }
            }
        }
    }
    let mut bad = Vec::new();
    for (i, m) in order.iter().enumerate() {
        for (file, path) in module_files(src, m) {
            let text = std::fs::read_to_string(&file).unwrap();
            let mut seen = BTreeSet::new();
            for (to, line) in references(&text, &path) {
                let to = match to.strip_prefix("super:") {
                    Some(t) if order.iter().any(|o| o == t) => t.to_string(),
                    Some(_) => continue,
                    None => macros.get(&to).cloned().unwrap_or(to),
                };
                if to == *m || !seen.insert((to.clone(), line)) {
                    continue;
                }
                match order.iter().position(|o| *o == to) {
                    Some(j) if j < i => {}
                    Some(_) => bad.push(format!(
                        "{}:{line}: `{m}` imports `{to}`, which is not below it in src/lib.rs's layer list",
                        file.display()
                    )),
                    // Crate-root items (re-exports in lib.rs) count as the top: not allowed below.
                    None => bad.push(format!(
                        "{}:{line}: `{m}` names crate-root item `{to}`; import it from its own module",
                        file.display()
                    )),
                }
            }
        }
    }
    bad
}

#[test]
fn library_layers_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let order = layers(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    assert!(order.len() >= 10, "src/lib.rs declares only {order:?}");
    let bad = violations(&src);
    assert!(bad.is_empty(), "upward or cyclic imports (layers bottom-up: {}):\n{}", order.join(" → "), bad.join("\n"));
}

/// The checker itself catches what it must, on a synthetic crate.
#[test]
fn checker_catches_upward_imports() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(
        src.join("lib.rs"),
        "//! doc\n//! ```text\n//! low   x\n//! mid   y\n//! high  z\n//! ```\npub mod high;\npub mod low;\npub mod mid;\n",
    )
    .unwrap();
    std::fs::create_dir(src.join("mid")).unwrap();
    std::fs::write(src.join("low.rs"), "//! see [`crate::high`]\nconst S: &str = \"crate::high\";\n").unwrap();
    std::fs::write(src.join("mid/mod.rs"), "pub mod inner;\nuse crate::low::X;\n").unwrap();
    std::fs::write(src.join("mid/inner.rs"), "use super::super::low;\nuse super::Y;\n").unwrap();
    std::fs::write(src.join("high.rs"), "use crate::{low::{A, B}, mid};\n").unwrap();
    assert!(violations(src).is_empty(), "{:?}", violations(src));

    // An upward edge by each route: a plain path, a group, `super::` out of the module.
    std::fs::write(src.join("low.rs"), "fn f() { crate::mid::g() }\n").unwrap();
    assert_eq!(violations(src).len(), 1, "{:?}", violations(src));
    std::fs::write(src.join("low.rs"), "").unwrap();
    std::fs::write(src.join("mid/mod.rs"), "pub mod inner;\nuse crate::{low::X, high::{Y, Z}};\n").unwrap();
    let v = violations(src);
    assert!(v.len() == 1 && v[0].contains("mid/mod.rs:2") && v[0].contains("`high`"), "{v:?}");
    std::fs::write(src.join("mid/mod.rs"), "pub mod inner;\n").unwrap();
    std::fs::write(src.join("mid/inner.rs"), "use super::super::high::T;\n").unwrap();
    assert_eq!(violations(src).len(), 1, "{:?}", violations(src));
    // A crate-root macro counts as the module that defines it.
    std::fs::write(src.join("mid/inner.rs"), "#[macro_export]\nmacro_rules! mac { () => {} }\n").unwrap();
    std::fs::write(src.join("high.rs"), "crate::mac!();\n").unwrap();
    assert!(violations(src).is_empty(), "{:?}", violations(src));
    std::fs::write(src.join("low.rs"), "crate::mac!();\n").unwrap();
    assert_eq!(violations(src).len(), 1, "{:?}", violations(src));
    std::fs::write(src.join("low.rs"), "").unwrap();
    std::fs::write(src.join("high.rs"), "").unwrap();
    // A cycle is an upward edge from its lower end.
    std::fs::write(src.join("mid/inner.rs"), "").unwrap();
    std::fs::write(src.join("low.rs"), "use crate::mid::Q;\n").unwrap();
    std::fs::write(src.join("mid/mod.rs"), "use crate::low::P;\n").unwrap();
    assert_eq!(violations(src).len(), 1, "{:?}", violations(src));
}

#[test]
fn strip_keeps_lines_and_drops_literals() {
    let s = "a /* x\ncrate::b */ 'c' \"crate::d\\\"\" r#\"crate::e\"# 'a: x\n";
    let t = strip(s);
    assert_eq!(t.lines().count(), 2);
    assert!(!t.contains("crate::"), "{t}");
    assert!(t.contains("'a: x"));
}
