//! The CLI reference as Markdown, generated from the clap definition itself so that it cannot
//! drift from the code: `axdnn cli-reference` prints it, `docs/src/reference/cli.md` is its
//! committed output, and `tests/guide.rs` fails when the two differ (`AXDNN_BLESS=1` rewrites).

use clap::CommandFactory;
use std::fmt::Write;

/// Every visible subcommand, depth first: usage, description, and each argument with its help,
/// default and possible values.
pub fn markdown() -> String {
    let mut root = super::Cli::command();
    root.build();
    let mut out = String::new();
    out.push_str("# CLI reference\n\n");
    out.push_str(
        "Generated from the command-line definition by `axdnn cli-reference`; do not edit by hand. \
         `tests/guide.rs` fails when this page differs from the binary's output \
         (`AXDNN_BLESS=1 cargo test --release --test guide` rewrites it).\n\n",
    );
    out.push_str(
        "Every command that reads data or multipliers takes `--data DIR` and `--evoapprox DIR` \
         (default: `$AXDNN_DATA` / `$AXDNN_EVOAPPROX`, else `../shared/data` / `../shared/evoapprox`).\n\n",
    );
    command(&mut root, 1, &mut out);
    out
}

fn command(cmd: &mut clap::Command, depth: usize, out: &mut String) {
    let name = cmd.get_bin_name().unwrap_or(cmd.get_name()).to_string();
    let _ = writeln!(out, "{} `{}`\n", "#".repeat((depth + 1).min(6)), name);
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        let _ = writeln!(out, "{}\n", escape(&about.to_string()));
    }
    let usage = cmd.render_usage().to_string();
    let _ = writeln!(out, "```text\n{}\n```\n", usage.trim_end());
    let subs: Vec<(String, String)> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .map(|s| (s.get_name().to_string(), s.get_about().map(|a| a.to_string()).unwrap_or_default()))
        .collect();
    if !subs.is_empty() {
        out.push_str("Subcommands:\n\n");
        for (n, about) in &subs {
            let _ = writeln!(out, "- `{n}`: {}", escape(about));
        }
        out.push('\n');
    }
    let args: Vec<&clap::Arg> =
        cmd.get_arguments().filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "version").collect();
    if !args.is_empty() {
        out.push_str("Arguments:\n\n");
        for a in args {
            let _ = writeln!(out, "- {}", argument(a));
        }
        out.push('\n');
    }
    for sub in cmd.get_subcommands_mut() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        command(sub, depth + 1, out);
    }
}

/// One argument: `--name <VALUE>` (or `<NAME>` for a positional), its help, default, values.
fn argument(a: &clap::Arg) -> String {
    let takes = a.get_action().takes_values();
    let values = || -> String {
        let names: Vec<String> = match a.get_value_names() {
            Some(v) => v.iter().map(|s| s.to_string()).collect(),
            None => vec![a.get_id().as_str().to_uppercase()],
        };
        let many = a.get_num_args().is_some_and(|r| r.max_values() > 1) && !a.is_positional();
        let mut s = names.iter().map(|n| format!("<{n}>")).collect::<Vec<_>>().join(" ");
        if many || (a.is_positional() && a.get_num_args().is_some_and(|r| r.max_values() > 1)) {
            s.push_str("...");
        }
        s
    };
    let mut head = String::new();
    if a.is_positional() {
        head.push_str(&values());
    } else {
        let mut names = Vec::new();
        if let Some(s) = a.get_short() {
            names.push(format!("-{s}"));
        }
        if let Some(l) = a.get_long() {
            names.push(format!("--{l}"));
        }
        head.push_str(&names.join(", "));
        if takes {
            head.push(' ');
            head.push_str(&values());
        }
    }
    let mut s = format!("`{head}`");
    if a.is_required_set() {
        s.push_str(" (required)");
    }
    if let Some(h) = a.get_long_help().or(a.get_help()) {
        s.push_str(": ");
        s.push_str(&escape(&h.to_string().replace('\n', " ")));
    }
    if takes {
        let d: Vec<String> = a.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        if !d.is_empty() {
            let _ = write!(s, " [default: `{}`]", d.join(","));
        }
        let pv: Vec<String> =
            a.get_possible_values().iter().filter(|p| !p.is_hide_set()).map(|p| p.get_name().to_string()).collect();
        if !pv.is_empty() {
            let _ = write!(s, " [values: {}]", pv.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "));
        }
    }
    if let Some(al) = a.get_visible_aliases() {
        let _ = write!(s, " [alias: {}]", al.iter().map(|x| format!("`--{x}`")).collect::<Vec<_>>().join(", "));
    }
    s
}

/// Escape what Markdown would read as HTML or emphasis, outside `code` spans.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut code = false;
    for c in s.chars() {
        if c == '`' {
            code = !code;
            out.push(c);
            continue;
        }
        match (code, c) {
            (false, '<') => out.push_str("&lt;"),
            (false, '>') => out.push_str("&gt;"),
            (false, '*') => out.push_str("\\*"),
            _ => out.push(c),
        }
    }
    out
}
