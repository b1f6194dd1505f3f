//! The reference pages written from the code: `docs/reference/cli.md` from
//! clap's description of the `keygate` command (every visible subcommand, its
//! flags, their variables and defaults) and `docs/reference/catalog.md` from
//! the default resource catalog. `keygate dev reference DIR` writes them; a
//! test (`tests/api/docs.rs`) fails when the committed pages differ.

use std::path::Path;

use clap::{Arg, Command};

/// The pages, as (file name, contents).
pub fn pages() -> Vec<(&'static str, String)> {
    vec![
        ("cli.md", cli_markdown()),
        ("catalog.md", catalog_markdown()),
    ]
}

/// Writes every page into `dir`.
pub fn write(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in pages() {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

const WRITTEN_BY: &str = "<!-- Written by `keygate dev reference docs/reference` from the code: \
                          edit the code, not this page. -->";

/// Every visible command of `keygate`, depth first, with its flags.
pub fn cli_markdown() -> String {
    let mut root = super::command();
    root.build();
    let mut out = format!(
        "# Command reference\n\n{WRITTEN_BY}\n\n\
         Every flag also reads the environment variable named beside it; a flag on \
         the command line wins over its variable. `serve` and `check` also read the \
         `--config` file (see [Protecting your API](../protecting-your-api.md#the-resource-catalog)). \
         `keygate --version` prints the version and the commit it was built from; \
         `keygate <command> --help` prints what this page says.\n\n"
    );
    let mut commands = Vec::new();
    collect(&root, "keygate", &mut commands);
    out.push_str("| command | what it does |\n| --- | --- |\n");
    for (path, cmd) in &commands {
        out.push_str(&format!(
            "| [`{path}`](#{}) | {} |\n",
            anchor(path),
            cell(&first_sentence(&about(cmd)))
        ));
    }
    for (path, cmd) in &commands {
        out.push_str(&format!("\n## {path}\n\n{}\n", about(cmd)));
        out.push_str(&format!("\n```\n{}\n```\n", usage(path, cmd)));
        let args: Vec<&Arg> = visible(cmd).collect();
        if args.is_empty() {
            continue;
        }
        out.push_str("\n| argument | variable | default | meaning |\n| --- | --- | --- | --- |\n");
        for a in args {
            let env = a
                .get_env()
                .map(|e| format!("`{}`", e.to_string_lossy()))
                .unwrap_or_default();
            let flag = matches!(a.get_action(), clap::ArgAction::SetTrue);
            let default = a
                .get_default_values()
                .iter()
                .filter(|_| !flag)
                .collect::<Vec<_>>()
                .iter()
                .map(|v| format!("`{}`", v.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(", ");
            let mut help = a
                .get_long_help()
                .or(a.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            let values: Vec<String> = a
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| format!("`{}`", v.get_name()))
                .collect();
            if !values.is_empty() && a.get_action().takes_values() {
                help.push_str(&format!(" One of {}.", values.join(", ")));
            }
            out.push_str(&format!(
                "| `{}` | {env} | {default} | {} |\n",
                cell(&arg_name(a)),
                cell(help.trim())
            ));
        }
    }
    out
}

/// The default resource catalog as a table.
pub fn catalog_markdown() -> String {
    format!(
        "# The default resource catalog\n\n{WRITTEN_BY}\n\n\
         The resources `keygate serve` protects without `--config`: each with a level \
         (`org`: the organization's own; `account`: granted per account) and route \
         patterns (`*` one segment, `**` the rest, zero or more). `read` allows GET and \
         HEAD, `write` every method; a path no pattern covers is refused (403). How to \
         replace it: [The resource catalog](../protecting-your-api.md#the-resource-catalog).\n\n{}",
        keygate_core::Catalog::default_catalog().markdown_table()
    )
}

fn collect<'a>(cmd: &'a Command, path: &str, out: &mut Vec<(String, &'a Command)>) {
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let path = format!("{path} {}", sub.get_name());
        if sub.has_subcommands() {
            collect(sub, &path, out);
        } else {
            out.push((path, sub));
        }
    }
}

fn about(cmd: &Command) -> String {
    cmd.get_long_about()
        .or(cmd.get_about())
        .map(|s| s.to_string())
        .unwrap_or_default()
}

fn first_sentence(text: &str) -> String {
    let text = text.split("\n\n").next().unwrap_or("").replace('\n', " ");
    match text.find(". ") {
        Some(i) => text[..=i].to_owned(),
        None => text,
    }
}

fn usage(path: &str, cmd: &Command) -> String {
    let mut out = path.to_owned();
    let mut optional = false;
    for a in visible(cmd) {
        if a.is_required_set() || a.is_positional() {
            let name = arg_name(a);
            if a.is_required_set() {
                out.push_str(&format!(" {name}"));
            } else {
                out.push_str(&format!(" [{name}]"));
            }
        } else {
            optional = true;
        }
    }
    if optional {
        out.push_str(" [OPTIONS]");
    }
    out
}

fn visible(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "version")
}

fn arg_name(a: &Arg) -> String {
    let value = a
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| a.get_id().as_str().to_uppercase());
    match a.get_long() {
        Some(long) if a.get_action().takes_values() => format!("--{long} {value}"),
        Some(long) => format!("--{long}"),
        None => value,
    }
}

/// GitHub's anchor for a heading: lowercase, spaces to `-`, other punctuation dropped.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
