//! Every `keygate …` command line in the manual's shell blocks parses with the
//! real clap parser: the lines found, split into shell-like words.

use clap::error::{ContextKind, ContextValue, ErrorKind};

use super::{pages, rel, split};

/// The shell-like words of a command line: quotes removed, `$(…)` and `$VAR`
/// kept as placeholders, up to the first shell operator.
pub(super) fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut chars = line.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, '$') if chars.peek() == Some(&'(') => {
                let mut depth = 0;
                for n in chars.by_ref() {
                    match n {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                cur.push_str("$SUBST");
            }
            (None, ' ' | '\t') => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, '|' | '&' | ';' | '>' | '<' | ')' | '`') => break,
            (None, '#') if cur.is_empty() && !any => break,
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every `keygate …` (or `cargo run … -- …`) command of the manual's shell
/// blocks, with where it is.
fn commands() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (page, text) in pages() {
        for (info, lines) in split(&text).blocks {
            let lang = info.split_whitespace().next().unwrap_or("");
            if !["sh", "bash", "shell", "zsh"].contains(&lang) {
                continue;
            }
            // Continuation lines are one command.
            let mut joined = Vec::new();
            let mut acc = String::new();
            for line in lines {
                match line.strip_suffix('\\') {
                    Some(head) => {
                        acc.push_str(head);
                        acc.push(' ');
                    }
                    None => {
                        acc.push_str(&line);
                        joined.push(std::mem::take(&mut acc));
                    }
                }
            }
            for line in joined {
                let line_words = words_from_each_command(&line);
                for w in line_words {
                    out.push((format!("{}: {line}", rel(&page)), w));
                }
            }
        }
    }
    out
}

/// The argument lists (after `keygate`) of the commands on one line.
pub(super) fn words_from_each_command(line: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(off) = line[from..].find("keygate") {
        let at = from + off;
        from = at + "keygate".len();
        // `keygate` as a command: at the start of a word (a path before it is fine)
        // and followed by a blank.
        let word_start = line[..at]
            .rfind(|c: char| c.is_whitespace() || "|&;(`\"'".contains(c))
            .map_or(0, |i| i + 1);
        let prefix = &line[word_start..at];
        if !(prefix.is_empty() || prefix.ends_with('/')) {
            continue;
        }
        if !line[from..].starts_with([' ', '\t']) {
            continue;
        }
        let args = words(&line[from..]);
        // `journalctl -u keygate -f`, `systemctl start keygate`: a name, not the command.
        let Some(first) = args.first() else { continue };
        let is_command = first == "--version"
            || first == "--help"
            || first.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && first
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if is_command {
            out.push(args);
        }
    }
    if let Some(at) = line.find("cargo run")
        && let Some(dash) = line[at..].find(" -- ")
    {
        out.push(words(&line[at + dash + 4..]));
    }
    out
}

/// A value the docs write as a placeholder: `FILE`, `$ORG`, `$(date +%F)`, `…`.
fn placeholder(value: &str) -> bool {
    value.contains('$')
        || value.contains('…')
        || (value.chars().any(|c| c.is_ascii_uppercase())
            && value
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c == '-'))
}

#[test]
fn every_keygate_command_in_the_manual_parses() {
    let commands = commands();
    assert!(
        commands.len() > 10,
        "the manual's shell blocks hold keygate commands: {commands:?}"
    );
    let mut bad = Vec::new();
    for (place, args) in &commands {
        let argv = std::iter::once("keygate".to_owned()).chain(args.iter().cloned());
        match keygate_server::cmd::command().try_get_matches_from(argv) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ValueValidation | ErrorKind::InvalidValue
                ) && matches!(e.get(ContextKind::InvalidValue),
                        Some(ContextValue::String(v)) if placeholder(v)) => {}
            Err(e) => bad.push(format!(
                "{place}\n  keygate {}\n  {}",
                args.join(" "),
                e.kind()
            )),
        }
        // As the outside check runs it: the leading words, then `--help`.
        let lead: Vec<&String> = args
            .iter()
            .take_while(|w| {
                w.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && w.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
            .collect();
        if !lead.is_empty() {
            let argv = std::iter::once("keygate")
                .chain(lead.iter().map(|s| s.as_str()))
                .chain(["--help"]);
            let e = keygate_server::cmd::command()
                .try_get_matches_from(argv)
                .err();
            if !e.is_some_and(|e| e.kind() == ErrorKind::DisplayHelp) {
                bad.push(format!(
                    "{place}\n  keygate {:?} --help does not print help",
                    lead
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "commands that do not parse:\n{}",
        bad.join("\n")
    );
}
