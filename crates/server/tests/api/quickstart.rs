//! The README's quickstart, run as written (bash and curl) against `serve --demo`:
//! every step works with the printed password, and a mistyped one stops at the
//! first step with a message saying which step failed.

use std::process::Command;

use crate::helpers::*;

/// The README's `sh` block that starts with `first_line`.
fn readme_block(first_line: &str) -> String {
    let readme =
        std::fs::read_to_string(format!("{}/../../README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let start = readme
        .find(&format!("```sh\n{first_line}"))
        .unwrap_or_else(|| panic!("README has no sh block starting with {first_line}"));
    let body = &readme[start + "```sh\n".len()..];
    body[..body.find("```").unwrap()].to_owned()
}

fn run(script: &str) -> (bool, String, String) {
    let out = Command::new("bash").args(["-c", script]).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_readme_quickstart_works_and_stops_at_a_wrong_password() {
    if Command::new("curl").arg("--version").output().is_err() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("curl is required under CI=true");
        }
        eprintln!("SKIPPED: curl is not installed; the README quickstart was not run");
        return;
    }
    let app = spawn_app_with(&["--demo"], &[]).await;
    let log = app.log();
    let password = log
        .lines()
        .find_map(|l| l.split("with password ").nth(1))
        .expect("demo prints the password")
        .trim()
        .to_owned();
    let first =
        readme_block("KG=http://127.0.0.1:8080\n").replace("http://127.0.0.1:8080", &app.base);
    let scoped = readme_block("scoped() {");

    let wrong = first.replace("paste-the-printed-password-here", "not-the-password");
    let (_, out, err) = run(&wrong);
    assert!(
        err.contains("sign-in (is PW the password Keygate printed?) failed (HTTP 401)"),
        "{err}"
    );
    assert!(
        out.trim().is_empty(),
        "nothing after the failed step ran: {out}"
    );

    let right = first.replace("paste-the-printed-password-here", &password);
    let (_, out, err) = run(&format!("{right}\n{scoped}"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "stdout:\n{out}\nstderr:\n{err}");
    assert!(lines[0].contains("\"path\":\"/api/v1/accounts\""), "{out}");
    assert!(lines[1].contains("\"code\":\"forbidden\""), "{out}");
    assert_eq!(lines[2], "POST /api/v1/pa/payment_intents/create: 200");
    assert_eq!(lines[3], "GET /api/v1/invoices/list: 200");
    assert!(lines[4].contains("\"code\":\"forbidden\""), "{out}");
    assert!(err.trim().is_empty(), "{err}");
}
