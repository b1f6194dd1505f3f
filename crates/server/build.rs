//! Names the commit the binary is built from, for `keygate --version`:
//! `KEYGATE_COMMIT` is `git rev-parse --short HEAD`, or `unknown` outside a git
//! checkout (a source archive). Cargo runs this again only when HEAD moves (a
//! commit, a checkout): it watches the files git keeps HEAD and its branch in,
//! not the sources.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let commit = git(&["rev-parse", "--short", "HEAD"]);
    println!(
        "cargo:rustc-env=KEYGATE_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    if commit.is_none() {
        return;
    }
    // HEAD itself (a checkout), the branch it points to (a commit), and
    // packed-refs (where the branch may live after `git gc`). `--git-path`
    // resolves each for a linked worktree too. A missing file is not watched:
    // cargo would take it for changed on every build.
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    let here = std::env::current_dir().unwrap_or_default();
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let path = here.join(PathBuf::from(path));
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}
