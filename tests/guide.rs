//! The user guide (`docs/src/`) and README.md stay true to the binary:
//! - `docs/src/reference/cli.md` equals `axdnn cli-reference` (`AXDNN_BLESS=1` rewrites it);
//! - every ```` ```console ```` block is executed: each `$ ` line (with `\` continuations) runs in
//!   bash, in one scratch folder per page (with `models/`, `plans/`, `netlists/`, … linked from
//!   the checkout), `axdnn` on PATH being the binary under test; it must exit 0, and the lines
//!   shown under it must appear in its standard output in that order (`[..]` matches any text,
//!   a line `...` stands for lines left out);
//! - every ```` ```console,no_run ```` block (long runs) is checked without running: each
//!   `axdnn …` command (also `cargo run --release -- …`, after `VAR=value` prefixes) must name
//!   real subcommands, and every `--flag` in it must appear in that subcommand's `--help`.
//!
//! The convention is described in the guide's chapter "Contributing to this guide".

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_axdnn");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn cli_reference_is_current() {
    let out = Command::new(BIN).arg("cli-reference").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let path = root().join("docs/src/reference/cli.md");
    if std::env::var_os("AXDNN_BLESS").is_some_and(|v| !v.is_empty()) {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != text {
        let (i, (a, b)) = committed
            .lines()
            .chain(std::iter::repeat(""))
            .zip(text.lines().chain(std::iter::repeat("")))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap();
        panic!(
            "{} is stale: line {} is\n  {a}\nbut `axdnn cli-reference` prints\n  {b}\n\
             Regenerate it with AXDNN_BLESS=1 cargo test --release --test guide",
            path.display(),
            i + 1
        );
    }
}

/// One `$ ` command of a console block and the output lines shown under it.
#[derive(Debug)]
struct Cmd {
    line: usize,
    text: String,
    expected: Vec<String>,
}

#[derive(Debug)]
struct Block {
    file: PathBuf,
    run: bool,
    cmds: Vec<Cmd>,
}

/// The console blocks of one Markdown file, in order.
fn blocks(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((_, l)) = lines.next() {
        let t = l.trim_start();
        let Some(info) = t.strip_prefix("```") else { continue };
        let indent = l.len() - t.len();
        let info = info.trim();
        let run = match info {
            "console" => true,
            "console,no_run" => false,
            _ => {
                // Skip any other fenced block whole.
                for (_, l) in lines.by_ref() {
                    if l.trim_start().starts_with("```") {
                        break;
                    }
                }
                continue;
            }
        };
        let mut b = Block { file: file.to_path_buf(), run, cmds: Vec::new() };
        let mut continued = false;
        for (j, l) in lines.by_ref() {
            let body = if l.len() >= indent && l[..indent].trim().is_empty() { &l[indent..] } else { l.trim_start() };
            if body.trim_start().starts_with("```") {
                break;
            }
            if continued {
                let c = b.cmds.last_mut().unwrap();
                c.text.push('\n');
                c.text.push_str(body);
                continued = body.trim_end().ends_with('\\');
            } else if let Some(cmd) = body.strip_prefix("$ ") {
                b.cmds.push(Cmd { line: j + 1, text: cmd.to_string(), expected: Vec::new() });
                continued = cmd.trim_end().ends_with('\\');
            } else if let Some(c) = b.cmds.last_mut() {
                if !body.trim().is_empty() {
                    c.expected.push(body.trim_end().to_string());
                }
            } else {
                panic!("{}:{}: console block output before any `$ ` command", file.display(), j + 1);
            }
        }
        out.push(b);
    }
    out
}

/// README.md and every page of the guide.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut e: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        e.sort();
        for p in e {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let mut v = vec![root().join("README.md")];
    walk(&root().join("docs/src"), &mut v);
    v
}

/// Does `actual` contain `pattern`, where `[..]` matches any text?
fn line_matches(pattern: &str, actual: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    if parts.len() == 1 {
        return pattern == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || !actual[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

/// The expected lines, in order, among the actual ones (a line `...` is ignored).
fn missing_line<'a>(expected: &'a [String], actual: &str) -> Option<&'a str> {
    let mut lines = actual.lines().map(|l| l.trim_end());
    expected
        .iter()
        .filter(|e| e.trim() != "...")
        .find(|e| !lines.by_ref().any(|a| line_matches(e, a)))
        .map(|e| e.as_str())
}

/// A scratch folder for one page: the checkout's input folders linked in, `axdnn` on PATH.
fn scratch(data: &Path, evo: &Path) -> (tempfile::TempDir, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    for d in ["models", "plans", "netlists", "verilog", "sim", "results", "assets"] {
        std::os::unix::fs::symlink(root().join(d), dir.path().join(d)).unwrap();
    }
    let bin = dir.path().join(".bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(BIN, bin.join("axdnn")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let env = vec![
        ("PATH".to_string(), path),
        ("AXDNN_DATA".to_string(), data.display().to_string()),
        ("AXDNN_EVOAPPROX".to_string(), evo.display().to_string()),
    ];
    (dir, env)
}

#[test]
fn console_examples_run() {
    let (Some(data), Some(evo)) = (common::data(), common::evoapprox()) else { return };
    let mut failures = Vec::new();
    let mut ran = 0;
    for page in pages() {
        let bs: Vec<Block> = blocks(&page).into_iter().filter(|b| b.run).collect();
        if bs.is_empty() {
            continue;
        }
        let (dir, env) = scratch(&data, &evo);
        for b in &bs {
            for c in &b.cmds {
                let t = std::time::Instant::now();
                let o = Command::new("bash")
                    .arg("-c")
                    .arg(format!("set -eo pipefail\n{}", c.text))
                    .current_dir(dir.path())
                    .envs(env.iter().cloned())
                    .output()
                    .unwrap();
                ran += 1;
                let at = format!("{}:{}", b.file.strip_prefix(root()).unwrap_or(&b.file).display(), c.line);
                eprintln!("{at}: {:.1} s: {}", t.elapsed().as_secs_f64(), c.text.lines().next().unwrap_or(""));
                let stdout = String::from_utf8_lossy(&o.stdout);
                if !o.status.success() {
                    failures.push(format!(
                        "{at}: `{}` exited with {}\n{}",
                        c.text,
                        o.status,
                        String::from_utf8_lossy(&o.stderr)
                    ));
                } else if let Some(m) = missing_line(&c.expected, &stdout) {
                    failures.push(format!("{at}: `{}`: the line\n  {m}\nis not in its output:\n{stdout}", c.text));
                }
            }
        }
    }
    assert!(ran >= 10, "only {ran} executed examples found: is the guide there?");
    assert!(failures.is_empty(), "{} example(s) failed:\n\n{}", failures.len(), failures.join("\n\n"));
}

/// Split a shell command into words (quotes removed; good enough for the guide's commands).
fn words(s: &str) -> Vec<String> {
    let s = s.replace("\\\n", " ");
    // The first command of a pipeline or list; `a|b` without spaces is a synopsis's alternatives.
    let first = [" | ", "; ", "&&", "||", " #"].iter().fold(s.as_str(), |f, sep| f.split(sep).next().unwrap_or(""));
    first
        .split_whitespace()
        .map(|w| w.trim_matches(|c| matches!(c, '"' | '\'' | '[' | ']')).to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The axdnn arguments of a command line, or `None` for another program.
fn axdnn_args(cmd: &str) -> Option<Vec<String>> {
    let mut w = words(cmd);
    while w.first().is_some_and(|x| x.contains('=') && !x.starts_with('-')) {
        w.remove(0);
    }
    if w.first().is_some_and(|x| x == "axdnn") {
        return Some(w[1..].to_vec());
    }
    if w.len() >= 2 && w[0] == "cargo" && w[1] == "run" {
        let i = w.iter().position(|x| x == "--")?;
        return Some(w[i + 1..].to_vec());
    }
    None
}

/// `axdnn <path> --help`, cached.
fn help<'a>(cache: &'a mut HashMap<Vec<String>, Option<String>>, path: &[String]) -> Option<&'a str> {
    cache
        .entry(path.to_vec())
        .or_insert_with(|| {
            let o = Command::new(BIN).args(path).arg("--help").output().unwrap();
            o.status.success().then(|| String::from_utf8_lossy(&o.stdout).into_owned())
        })
        .as_deref()
}

/// The subcommand names listed under `Commands:` in a help text.
fn subcommands(help: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut on = false;
    for l in help.lines() {
        if l.starts_with("Commands:") {
            on = true;
        } else if on && l.starts_with("  ") && !l.starts_with("   ") {
            v.push(l.split_whitespace().next().unwrap_or("").to_string());
        } else if on && !l.starts_with(' ') {
            on = false;
        }
    }
    v
}

/// Why an axdnn command line would not parse (unknown subcommand or flag), if it would not.
fn check_args(cache: &mut HashMap<Vec<String>, Option<String>>, args: &[String]) -> Option<String> {
    let mut path: Vec<String> = Vec::new();
    let mut rest = args;
    loop {
        let Some(h) = help(cache, &path).map(str::to_string) else {
            return Some(format!("`axdnn {} --help` failed", path.join(" ")));
        };
        let subs = subcommands(&h);
        match rest.first() {
            Some(w) if subs.contains(w) => {
                path.push(w.clone());
                rest = &rest[1..];
            }
            Some(w) if !subs.is_empty() && !w.starts_with('-') => {
                return Some(format!("`axdnn {}` has no subcommand `{w}`", path.join(" ")));
            }
            _ if !subs.is_empty() && path.is_empty() => return Some("no subcommand".into()),
            _ => break,
        }
    }
    let h = help(cache, &path).unwrap_or("").to_string();
    for w in rest {
        let flag = if w.starts_with("--") {
            w.split('=').next().unwrap()
        } else if w.len() == 2 && w.starts_with('-') && w != "--" {
            w.as_str()
        } else {
            continue;
        };
        let known = h.match_indices(flag).any(|(i, _)| {
            let before = h[..i].chars().last();
            let after = h[i + flag.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '-')
                && !after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
        });
        if !known {
            return Some(format!("`axdnn {}` has no flag `{flag}`", path.join(" ")));
        }
    }
    None
}

#[test]
fn not_executed_examples_name_real_commands() {
    let mut cache = HashMap::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for page in pages() {
        for b in blocks(&page) {
            for c in &b.cmds {
                let Some(args) = axdnn_args(&c.text) else { continue };
                checked += 1;
                if let Some(why) = check_args(&mut cache, &args) {
                    let at = format!("{}:{}", b.file.strip_prefix(root()).unwrap_or(&b.file).display(), c.line);
                    failures.push(format!("{at}: {why}: {}", c.text));
                }
            }
        }
    }
    assert!(checked >= 10, "only {checked} axdnn commands found in the guide");
    assert!(
        failures.is_empty(),
        "{} example(s) name what the CLI does not have:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_checker_catches_renamed_commands_and_flags() {
    let mut cache = HashMap::new();
    let a = |s: &str| axdnn_args(s).unwrap();
    assert_eq!(check_args(&mut cache, &a("axdnn infer --model m --n 10")), None);
    assert_eq!(check_args(&mut cache, &a("X=1 cargo run --release -- study run p.toml --out d")), None);
    assert!(check_args(&mut cache, &a("axdnn infer --modle m")).is_some());
    assert!(check_args(&mut cache, &a("axdnn study rnu p.toml")).is_some());
    assert!(check_args(&mut cache, &a("axdnn infr --model m")).is_some());
    assert!(line_matches("a [..] c", "a b c") && !line_matches("a [..] c", "a b d"));
    assert_eq!(missing_line(&["x".into(), "...".into(), "z".into()], "x\ny\nz"), None);
    assert_eq!(missing_line(&["z".into(), "x".into()], "x\ny\nz"), Some("x"));
}
