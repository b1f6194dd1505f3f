//! The systemd unit (`examples/systemd/keygate.service`).

use super::*;

/// `examples/systemd/keygate.service` passes `systemd-analyze verify` (with
/// `ExecStart` pointed at the keygate binary under test), and keeps its
/// hardening. Skipped loudly without systemd-analyze, except on CI, whose
/// `.ci/run` installs it (Debian's `systemd` package).
#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = example("systemd/keygate.service");
    for line in [
        "DynamicUser=yes",
        "StateDirectory=keygate",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "ExecStart=/usr/local/bin/keygate serve --data-dir /var/lib/keygate",
    ] {
        assert!(unit.contains(line), "{line:?} missing from the unit");
    }
    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
    else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("systemd-analyze is required in CI (apt-get install systemd)");
        }
        eprintln!("SKIPPED: systemd-analyze is not installed; the systemd unit was not verified");
        return;
    };
    let dir = temp_dir();
    let path = dir.join("keygate.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/keygate", env!("CARGO_BIN_EXE_keygate")),
    )
    .unwrap();
    let out = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("keygate.service:"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
