//! The resource catalog: named API areas, their level and the routes they cover.
//!
//! A request path is mapped to exactly one resource, or to none (deny by default).
//! Route patterns are matched segment by segment: `*` is one segment, `**` (only
//! last) is zero or more. Paths that a server behind Keygate might read
//! differently than we do (`..`, `//`, encoded slashes or dots) are refused
//! outright, so a check on `/api/v1/balances/..%2finvoices` cannot be steered.

use serde::{Deserialize, Serialize};

/// Whether a resource belongs to the organization or to each account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Org,
    Account,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    pub name: String,
    pub level: Level,
    pub description: String,
    pub routes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    resources: Vec<Resource>,
    /// Every route's pattern and its resource, most literal segments first:
    /// the first that matches a path wins.
    patterns: Vec<(Vec<Seg>, usize)>,
    /// The patterns by their leading literal segments, so a path is matched
    /// only against the patterns that can match it, not all of them.
    index: Node,
}

/// A node of the index: the patterns whose leading literals (the segments
/// before their first `*` or `**`) are exactly the path to this node.
#[derive(Debug, Clone, Default)]
struct Node {
    /// Positions in `Catalog::patterns`, ascending.
    here: Vec<usize>,
    /// The next literal segment, sorted by it for a binary search.
    children: Vec<(String, Node)>,
}

impl Node {
    fn insert(&mut self, pattern: &[Seg], position: usize) {
        match pattern.first() {
            Some(Seg::Lit(l)) => {
                let child = match self.children.binary_search_by(|(c, _)| c.as_str().cmp(l)) {
                    Ok(i) => &mut self.children[i].1,
                    Err(i) => {
                        self.children.insert(i, (l.clone(), Node::default()));
                        &mut self.children[i].1
                    }
                };
                child.insert(&pattern[1..], position);
            }
            _ => self.here.push(position),
        }
    }

    fn child(&self, seg: &str) -> Option<&Node> {
        self.children
            .binary_search_by(|(c, _)| c.as_str().cmp(seg))
            .ok()
            .map(|i| &self.children[i].1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    One,
    Rest,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("the catalog file is not valid TOML for a catalog: {0}")]
    Toml(String),
    #[error("resource name {0:?} must be 1-64 characters of a-z, 0-9 and _")]
    BadName(String),
    #[error("resource {0:?} appears twice")]
    Duplicate(String),
    #[error(
        "route {route:?} of {resource:?} must start with / and may use ** only as its last segment"
    )]
    BadRoute { resource: String, route: String },
    #[error("the catalog has no resources")]
    Empty,
}

/// The path cannot be judged safely and is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request path is ambiguous (dot segments, empty segments or encoded separators)")]
pub struct AmbiguousPath;

#[derive(Deserialize)]
struct CatalogFile {
    resource: Vec<Resource>,
}

impl Catalog {
    pub fn new(resources: Vec<Resource>) -> Result<Catalog, CatalogError> {
        if resources.is_empty() {
            return Err(CatalogError::Empty);
        }
        let mut patterns = Vec::new();
        for (i, r) in resources.iter().enumerate() {
            let name_ok = !r.name.is_empty()
                && r.name.len() <= 64
                && r.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                return Err(CatalogError::BadName(r.name.clone()));
            }
            if resources[..i].iter().any(|o| o.name == r.name) {
                return Err(CatalogError::Duplicate(r.name.clone()));
            }
            for route in &r.routes {
                let segs = parse_pattern(route).ok_or_else(|| CatalogError::BadRoute {
                    resource: r.name.clone(),
                    route: route.clone(),
                })?;
                patterns.push((segs, i));
            }
        }
        // Most literal segments first, so the most specific pattern wins.
        patterns.sort_by_key(|(segs, _)| {
            std::cmp::Reverse(segs.iter().filter(|s| matches!(s, Seg::Lit(_))).count())
        });
        let mut index = Node::default();
        for (position, (segs, _)) in patterns.iter().enumerate() {
            index.insert(segs, position);
        }
        Ok(Catalog {
            resources,
            patterns,
            index,
        })
    }

    pub fn from_toml(text: &str) -> Result<Catalog, CatalogError> {
        let file: CatalogFile =
            toml::from_str(text).map_err(|e| CatalogError::Toml(e.message().to_owned()))?;
        Catalog::new(file.resource)
    }

    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    pub fn get(&self, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.name == name)
    }

    pub fn of_level(&self, level: Level) -> impl Iterator<Item = &Resource> {
        self.resources.iter().filter(move |r| r.level == level)
    }

    /// The resource a request path belongs to; `Ok(None)` when no route covers it.
    pub fn resolve(&self, path: &str) -> Result<Option<&Resource>, AmbiguousPath> {
        Ok(self.resolve_checked(check_path(path)?))
    }

    /// The resource of a path `check_path` accepted, which is not looked at
    /// again: the token check's path was checked before its token was read.
    pub fn resolve_checked(&self, path: CheckedPath<'_>) -> Option<&Resource> {
        // Up to `INLINE` segments on the stack (the token check's hot path
        // allocates nothing here); longer paths in a `Vec`.
        const INLINE: usize = 16;
        let mut inline = [""; INLINE];
        let mut spilled = Vec::new();
        let mut n = 0;
        for seg in path.segments() {
            match inline.get_mut(n) {
                Some(slot) => *slot = seg,
                None => {
                    if spilled.is_empty() {
                        spilled.extend_from_slice(&inline);
                    }
                    spilled.push(seg);
                }
            }
            n += 1;
        }
        let segs: &[&str] = if n <= INLINE { &inline[..n] } else { &spilled };
        // A pattern can match only if its leading literals are the path's
        // first segments: walk them down the index, and of the patterns met
        // on the way that match, take the earliest, as a scan of
        // `patterns` in order would.
        let mut best: Option<usize> = None;
        let mut node = Some(&self.index);
        let mut depth = 0;
        while let Some(at) = node {
            for &p in &at.here {
                if best.is_none_or(|b| p < b) && matches(&self.patterns[p].0, segs) {
                    best = Some(p);
                }
            }
            node = segs.get(depth).and_then(|seg| at.child(seg));
            depth += 1;
        }
        best.map(|p| &self.resources[self.patterns[p].1])
    }

    /// The catalog as a Markdown table (resource, level, route patterns,
    /// description): `keygate dev reference` writes the default catalog's into
    /// docs/reference/catalog.md, and a test keeps that page equal to it.
    pub fn markdown_table(&self) -> String {
        let cell = |s: &str| s.replace('|', "\\|");
        let mut out = String::from(
            "| resource | level | routes | description |\n| --- | --- | --- | --- |\n",
        );
        for r in &self.resources {
            let level = match r.level {
                Level::Org => "org",
                Level::Account => "account",
            };
            let routes: Vec<String> = r.routes.iter().map(|p| format!("`{}`", cell(p))).collect();
            out.push_str(&format!(
                "| `{}` | {level} | {} | {} |\n",
                cell(&r.name),
                routes.join(", "),
                cell(&r.description)
            ));
        }
        out
    }

    /// The catalog Keygate ships: resources named after Airwallex's API areas.
    pub fn default_catalog() -> Catalog {
        #[allow(clippy::expect_used)]
        Catalog::from_toml(DEFAULT_CATALOG).expect("the built-in catalog is valid")
    }
}

pub const DEFAULT_CATALOG: &str = include_str!("default_catalog.toml");

fn parse_pattern(route: &str) -> Option<Vec<Seg>> {
    let rest = route.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    let mut segs = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        match *p {
            "" => return None,
            "**" if i + 1 == parts.len() => segs.push(Seg::Rest),
            "**" => return None,
            "*" => segs.push(Seg::One),
            lit if lit.contains('*') => return None,
            lit => segs.push(Seg::Lit(lit.to_owned())),
        }
    }
    Some(segs)
}

/// Refuses a path that a server behind Keygate might read differently than the
/// scope check does: `\`, `;` (path parameters: `/invoices/..;/balances` is
/// `/balances` to Tomcat), encoded `%`, `/`, `\`, `.` or NUL (decoded once more
/// by some stacks), a `%` not followed by two hex digits, and empty, `.` or
/// `..` segments.
pub fn check_path(path: &str) -> Result<CheckedPath<'_>, AmbiguousPath> {
    let rest = path.strip_prefix('/').ok_or(AmbiguousPath)?;
    if rest.contains(['\\', ';']) || !escapes_are_plain(rest) {
        return Err(AmbiguousPath);
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(AmbiguousPath);
    }
    Ok(CheckedPath { path, rest })
}

/// A request path `check_path` accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedPath<'a> {
    path: &'a str,
    /// Without its leading `/` and any trailing one.
    rest: &'a str,
}

impl<'a> CheckedPath<'a> {
    /// The path as the request gave it.
    pub fn as_str(&self) -> &'a str {
        self.path
    }

    fn segments(&self) -> std::str::Split<'a, char> {
        self.rest.split('/')
    }
}

/// Every `%` starts a well-formed escape of something other than `%`, `/`,
/// `\`, `.`, `;` or NUL (hex digits in either case). An encoded `;` is
/// refused like a raw one: servers that decode before splitting off path
/// parameters (`..%3B/`) would read the path another way.
fn escapes_are_plain(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'%') {
        let at = i + off;
        let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
        let (Some(hi), Some(lo)) = (hex(at + 1), hex(at + 2)) else {
            return false;
        };
        if matches!(hi * 16 + lo, 0x00 | 0x25 | 0x2e | 0x2f | 0x3b | 0x5c) {
            return false;
        }
        i = at + 3;
    }
    true
}

fn matches(pat: &[Seg], segs: &[&str]) -> bool {
    let mut i = 0;
    for p in pat {
        match p {
            Seg::Rest => return true,
            Seg::One if i < segs.len() => i += 1,
            Seg::Lit(l) if i < segs.len() && segs[i] == l => i += 1,
            _ => return false,
        }
    }
    i == segs.len()
}

#[cfg(test)]
mod tests {
    /// `docs/reference/catalog.md` lists the default catalog; it is written by
    /// `keygate dev reference docs/reference`, so it stays true.
    #[test]
    fn the_reference_lists_the_default_catalog() {
        let page = include_str!("../../../docs/reference/catalog.md");
        assert!(
            page.contains(&Catalog::default_catalog().markdown_table()),
            "docs/reference/catalog.md is out of date: run \
             `cargo run -q -- dev reference docs/reference`"
        );
    }

    use super::*;

    fn name(c: &Catalog, path: &str) -> Option<String> {
        c.resolve(path).ok().flatten().map(|r| r.name.clone())
    }

    /// The index finds what a scan of every pattern in order finds, for
    /// catalogs with literals, `*` and `**` at every depth and paths that
    /// match several patterns, one or none.
    #[test]
    fn the_index_finds_what_a_scan_finds() {
        let scan = |c: &Catalog, path: &str| -> Option<String> {
            let segs: Vec<&str> = check_path(path).ok()?.segments().collect();
            c.patterns
                .iter()
                .find(|(pat, _)| matches(pat, &segs))
                .map(|(_, i)| c.resources[*i].name.clone())
        };
        let routes = [
            "/a",
            "/a/**",
            "/a/b",
            "/a/*",
            "/a/*/c",
            "/a/b/**",
            "/*/b",
            "/**",
            "/a/b/c/d",
            "/x/*/y/**",
            "/x/y",
            "/a/*/c/**",
            "/b/**",
        ];
        let segs = ["a", "b", "c", "d", "x", "y", "zz"];
        // Every run of up to four segments over the alphabet above.
        let mut paths = vec!["/".to_owned()];
        let mut frontier = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for p in &frontier {
                for s in segs {
                    next.push(format!("{p}/{s}"));
                }
            }
            paths.extend(next.iter().cloned());
            frontier = next;
        }
        // Catalogs of each window of the routes, one resource per route.
        for start in 0..routes.len() {
            for len in 1..=routes.len() - start {
                let c = Catalog::new(
                    routes[start..start + len]
                        .iter()
                        .enumerate()
                        .map(|(i, r)| Resource {
                            name: format!("r{i}"),
                            level: Level::Org,
                            description: String::new(),
                            routes: vec![(*r).to_owned()],
                        })
                        .collect(),
                )
                .unwrap();
                for p in &paths {
                    assert_eq!(
                        name(&c, p),
                        scan(&c, p),
                        "{p} in {:?}",
                        &routes[start..start + len]
                    );
                }
            }
        }
        let c = Catalog::default_catalog();
        for r in c.resources().iter().flat_map(|r| &r.routes) {
            let p = r.replace("**", "x/y").replace('*', "z");
            assert_eq!(name(&c, &p), scan(&c, &p), "{p}");
        }
    }

    #[test]
    fn default_catalog_has_about_twenty_resources_of_both_levels() {
        let c = Catalog::default_catalog();
        assert!(c.resources().len() >= 20);
        assert!(c.of_level(Level::Org).count() >= 5);
        assert!(c.of_level(Level::Account).count() >= 10);
    }

    #[test]
    fn paths_map_to_their_resource() {
        let c = Catalog::default_catalog();
        assert_eq!(
            name(&c, "/api/v1/account").as_deref(),
            Some("account_details")
        );
        assert_eq!(
            name(&c, "/api/v1/account/wallet").as_deref(),
            Some("account_details")
        );
        assert_eq!(
            name(&c, "/api/v1/accounts/acct_1").as_deref(),
            Some("accounts")
        );
        assert_eq!(
            name(&c, "/api/v1/balances/current").as_deref(),
            Some("balances")
        );
        assert_eq!(
            name(&c, "/api/v1/pa/payment_intents/create").as_deref(),
            Some("payment_intents")
        );
        assert_eq!(
            name(&c, "/api/v1/invoices/inv_1/").as_deref(),
            Some("billing_invoices")
        );
    }

    #[test]
    fn unknown_paths_map_to_nothing() {
        let c = Catalog::default_catalog();
        assert_eq!(
            name(&c, "/api/v1/billing_invoices_does_not_exist_route"),
            None
        );
        assert_eq!(name(&c, "/api/v1/accountsx"), None);
        assert_eq!(name(&c, "/other"), None);
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        let c = Catalog::default_catalog();
        for p in [
            "/api/v1/balances/../invoices",
            "/api/v1/balances/./x",
            "/api/v1//balances/x",
            "/api/v1/balances/..%2finvoices",
            "/api/v1/balances/%2E%2E/invoices",
            "/api/v1/balances\\x",
            "api/v1/balances",
            "/api/v1/invoices/..;/balances/current",
            "/api/v1/invoices;x=1/1",
            "/api/v1/invoices/%252e%252e/balances/current",
            "/api/v1/invoices/%5Cx",
            "/api/v1/invoices/%00",
            "/api/v1/invoices/%zz",
            "/api/v1/invoices/%2",
            "/api/v1/invoices/..%3B/balances/current",
            "/api/v1/invoices/..%3b/balances/current",
            "/api/v1/invoices%3Bx=1/1",
        ] {
            assert_eq!(c.resolve(p).err(), Some(AmbiguousPath), "{p}");
        }
        assert_eq!(
            check_path("/api/v1/invoices/a%20b%C3%A9/").map(|p| p.as_str()),
            Ok("/api/v1/invoices/a%20b%C3%A9/")
        );
    }

    #[test]
    fn single_star_matches_one_segment() {
        let c = Catalog::new(vec![Resource {
            name: "things".into(),
            level: Level::Account,
            description: "things".into(),
            routes: vec!["/api/*/things".into()],
        }])
        .unwrap();
        assert_eq!(name(&c, "/api/v2/things").as_deref(), Some("things"));
        assert_eq!(name(&c, "/api/v2/x/things"), None);
    }

    #[test]
    fn a_catalog_file_replaces_the_default() {
        let c = Catalog::from_toml(
            r#"
            [[resource]]
            name = "widgets"
            level = "org"
            description = "Widgets"
            routes = ["/api/v1/widgets/**"]
            "#,
        )
        .unwrap();
        assert_eq!(c.resources().len(), 1);
        assert_eq!(name(&c, "/api/v1/widgets").as_deref(), Some("widgets"));
    }

    #[test]
    fn bad_catalog_files_say_what_is_wrong() {
        let dup = r#"
            [[resource]]
            name = "a"
            level = "org"
            description = ""
            routes = ["/a"]
            [[resource]]
            name = "a"
            level = "org"
            description = ""
            routes = ["/b"]
        "#;
        assert_eq!(
            Catalog::from_toml(dup).unwrap_err(),
            CatalogError::Duplicate("a".into())
        );
        let bad_route = r#"
            [[resource]]
            name = "a"
            level = "org"
            description = ""
            routes = ["/a/**/b"]
        "#;
        assert!(matches!(
            Catalog::from_toml(bad_route),
            Err(CatalogError::BadRoute { .. })
        ));
    }
}
