//! The manual stays true: the reference pages written from the code equal the
//! committed ones, every relative link of README.md and docs/**/*.md resolves
//! (its file, and its #anchor in a Markdown page), every `keygate …` command
//! line in their shell blocks parses with the real clap parser, and every
//! notifying event is in the events table.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use commands::{words, words_from_each_command};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// README.md and every Markdown page under docs/, with their text.
fn pages() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let root = root();
    let mut paths = vec![root.join("README.md")];
    walk(&root.join("docs"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A page split into its prose lines and its fenced blocks (info string, lines).
struct Split {
    prose: Vec<String>,
    blocks: Vec<(String, Vec<String>)>,
}

fn split(text: &str) -> Split {
    let mut prose = Vec::new();
    let mut blocks = Vec::new();
    let mut open: Option<(String, String, Vec<String>)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let fence = ["```", "~~~"]
            .into_iter()
            .find(|f| trimmed.starts_with(f) && line.len() - trimmed.len() <= 3);
        match (&mut open, fence) {
            (None, Some(f)) => {
                let marker: String = trimmed.chars().take_while(|c| f.starts_with(*c)).collect();
                let info = trimmed[marker.len()..].trim().to_owned();
                open = Some((marker, info, Vec::new()));
            }
            (None, None) => prose.push(line.to_owned()),
            (Some((marker, _, _)), Some(_))
                if trimmed.starts_with(marker.as_str())
                    && trimmed
                        .trim_start_matches(marker.chars().next().unwrap())
                        .trim()
                        .is_empty() =>
            {
                let (_, info, lines) = open.take().unwrap();
                blocks.push((info, lines));
            }
            (Some((_, _, lines)), _) => lines.push(line.to_owned()),
        }
    }
    if let Some((_, info, lines)) = open {
        blocks.push((info, lines));
    }
    Split { prose, blocks }
}

/// Prose without HTML comments and inline code.
fn plain_prose(prose: &[String]) -> String {
    let mut text = prose.join("\n");
    while let Some(start) = text.find("<!--") {
        let end = text[start..]
            .find("-->")
            .map_or(text.len(), |e| start + e + 3);
        text.replace_range(start..end, "");
    }
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].chars().take_while(|c| *c == '`').count();
        let after = &rest[start + ticks..];
        match after.find(&"`".repeat(ticks)) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Link targets: `[text](target)`, `![alt](target)`, `[ref]: target`,
/// `<a href>` and `<img src>`.
fn links(prose: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = prose.as_bytes();
    let mut i = 0;
    while let Some(off) = prose[i..].find("](") {
        let start = i + off + 2;
        let mut depth = 0;
        let mut end = start;
        while end < bytes.len() {
            match bytes[end] {
                b'(' => depth += 1,
                b')' if depth == 0 => break,
                b')' => depth -= 1,
                b' ' | b'\n' if depth == 0 => break,
                _ => {}
            }
            end += 1;
        }
        out.push(prose[start..end].trim_matches(['<', '>']).to_owned());
        i = end;
    }
    for line in prose.lines() {
        let t = line.trim_start();
        if t.starts_with('[')
            && let Some(close) = t.find("]:")
            && !t[..close].contains("](")
            && let Some(target) = t[close + 2..].split_whitespace().next()
        {
            out.push(target.trim_matches(['<', '>']).to_owned());
        }
    }
    for attr in ["href=\"", "src=\""] {
        let mut rest = prose;
        while let Some(p) = rest.find(attr) {
            let after = &rest[p + attr.len()..];
            let end = after.find('"').unwrap_or(after.len());
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's anchors of a page's headings (`## 1. Install it` → `1-install-it`),
/// duplicates numbered as GitHub does.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = BTreeSet::new();
    for line in split(text).prose {
        let t = line.trim_start();
        let hashes = t.chars().take_while(|c| *c == '#').count();
        if hashes == 0 || hashes > 6 || !t[hashes..].starts_with(' ') {
            continue;
        }
        let mut heading = t[hashes..].trim().to_owned();
        // A link in a heading counts by its text.
        while let (Some(a), Some(b)) = (heading.find("]("), heading.find(')')) {
            if b < a {
                break;
            }
            heading.replace_range(a..=b, "");
        }
        let slug = keygate_server::cmd::reference::anchor(&heading);
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

#[test]
fn the_reference_pages_are_written_from_the_code() {
    let dir = root().join("docs/reference");
    for (name, text) in keygate_server::cmd::reference::pages() {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            committed == text,
            "docs/reference/{name} is out of date: run \
             `cargo run -q -p keygate-server -- dev reference docs/reference` and commit it"
        );
    }
}

#[test]
fn every_relative_link_of_the_manual_resolves_with_its_anchor() {
    let mut broken = Vec::new();
    let mut anchor_cache: HashMap<PathBuf, BTreeSet<String>> = HashMap::new();
    let mut to_docs = 0;
    let pages = pages();
    assert!(pages.len() > 5, "README.md and the docs/ chapters");
    for (page, text) in &pages {
        for target in links(&plain_prose(&split(text).prose)) {
            if target.is_empty()
                || target.starts_with('/')
                || target.split_once(':').is_some_and(|(scheme, _)| {
                    !scheme.is_empty()
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
                })
            {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let file = file.split('?').next().unwrap();
            let resolved = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !resolved.exists() {
                broken.push(format!("{}: {target} (no such file)", rel(page)));
                continue;
            }
            let resolved = resolved.canonicalize().unwrap();
            if page.file_name().is_some_and(|n| n == "README.md")
                && page.parent() == Some(root().as_path())
                && resolved.starts_with(root().join("docs"))
            {
                to_docs += 1;
            }
            if let Some(anchor) = anchor
                && resolved.extension().is_some_and(|e| e == "md")
            {
                let known = anchor_cache
                    .entry(resolved.clone())
                    .or_insert_with(|| anchors(&std::fs::read_to_string(&resolved).unwrap()));
                if !known.contains(anchor) {
                    broken.push(format!(
                        "{}: {target} (no heading with that anchor in {})",
                        rel(page),
                        rel(&resolved)
                    ));
                }
            }
        }
    }
    assert!(to_docs > 0, "README.md links into docs/");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_events_table_lists_every_notifying_event() {
    let text = std::fs::read_to_string(root().join("docs/notifications.md")).unwrap();
    let missing: Vec<&str> = keygate_store::outbox::KEY_EVENTS
        .iter()
        .copied()
        .filter(|name| !text.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/notifications.md does not list {missing:?}"
    );
}

#[test]
fn the_parsers_of_this_test_read_what_they_should() {
    assert_eq!(
        words("backup --to /b/k-$(date +%F).db --data-dir \"/var/lib/x y\" | tee"),
        [
            "backup",
            "--to",
            "/b/k-$SUBST.db",
            "--data-dir",
            "/var/lib/x y"
        ]
    );
    assert_eq!(
        words_from_each_command("journalctl -u keygate -f; /usr/local/bin/keygate check --x"),
        [vec!["check".to_owned(), "--x".to_owned()]]
    );
    assert!(words_from_each_command("mv /var/lib/keygate /var/lib/keygate.old").is_empty());
    assert_eq!(
        anchors("# A\n## 1. Install the binary\n```\n# not a heading\n```\n## A"),
        ["1-install-the-binary", "a", "a-1"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert_eq!(
        links("see [x](a.md#b) and ![i](s.png) `[no](c.md)`\n[r]: d.md"),
        ["a.md#b", "s.png", "c.md", "d.md"]
    );
}

mod commands;
