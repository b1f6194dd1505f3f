//! Two-factor secrets sealed by earlier versions, and sealed secrets copied
//! from one user onto another.

use super::*;

/// A seal as versions before the user binding wrote it (`v1.`): encrypted
/// and authenticated under keys derived from the pepper, bound to no one.
fn seal_v1(secret_base32: &str, pepper: &Pepper) -> String {
    let secret = base32_decode(secret_base32);
    let enc = pepper.digest(b"keygate two-factor secret encryption v1").0;
    let mac = pepper
        .digest(b"keygate two-factor secret authentication v1")
        .0;
    let nonce: [u8; 16] = random_bytes();
    let stream = hmac_sha256(&enc, &[&nonce]);
    let ct: Vec<u8> = secret.iter().zip(stream).map(|(s, k)| s ^ k).collect();
    let tag = hmac_sha256(&mac, &[&nonce, &ct]);
    format!("v1.{}{}{}", hex(&nonce), hex(&ct), hex(&tag))
}

fn base32_decode(text: &str) -> Vec<u8> {
    let (mut buf, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.chars() {
        let v = match c {
            'A'..='Z' => c as u32 - 'A' as u32,
            '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => panic!("not base32: {c}"),
        };
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

#[tokio::test]
async fn a_sealed_secret_copied_onto_another_users_row_accepts_no_code() {
    let mut app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let admin = app.invite_member(&org, "admin@acme.test", "admin").await;
    let (owner_secret, _) = enrol(&app, &org.owner).await;
    let (admin_secret, admin_recovery) = enrol(&app, &admin).await;
    let (owner_id, admin_id) = (
        user_id(&app, "owner@acme.test").await,
        user_id(&app, "admin@acme.test").await,
    );
    let owners_seal = sealed_secret(&app, &owner_id).await;

    // Someone with write access to the database copies the owner's sealed
    // secret (whose codes they can make) onto the admin's row.
    let sql = "update two_factor set sealed_secret = $1 where user_id = $2";
    db_exec(&app, sql, &[&owners_seal, &admin_id]).await;
    let email = "admin@acme.test";
    let ch = challenge(&app, email).await;
    let r = second_step(&app, &ch, &code(&owner_secret, 1)).await;
    assert_eq!(r.status, 401, "the owner's code for the admin: {}", r.body);
    let r = second_step(&app, &ch, &code(&owner_secret, 0)).await;
    assert_eq!(r.status, 401);
    // The admin's own codes no longer open either; a recovery code does.
    let r = second_step(&app, &ch, &code(&admin_secret, 1)).await;
    assert_eq!(r.status, 401);
    let r = second_step(&app, &ch, &admin_recovery[0]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(app.log().contains("does not open for its user"));
    assert!(owners_seal.starts_with("v2."), "{owners_seal}");

    // A seal of the old unbound format is refused as it is, even the
    // admin's own...
    let pepper_text = std::fs::read_to_string(app.data_dir.join("pepper")).unwrap();
    let pepper = Pepper::new(pepper_text.trim().as_bytes());
    let old = seal_v1(&admin_secret, &pepper);
    db_exec(&app, sql, &[&old, &admin_id]).await;
    let ch = challenge(&app, email).await;
    let r = second_step(&app, &ch, &code(&admin_secret, 1)).await;
    assert_eq!(r.status, 401, "an unbound seal: {}", r.body);
    // ...and re-sealed, bound to its row's user, once at start-up.
    app.restart_with(None, None);
    let resealed = sealed_secret(&app, &admin_id).await;
    assert!(resealed.starts_with("v2."), "{resealed}");
    let ch = challenge(&app, email).await;
    let r = second_step(&app, &ch, &code(&admin_secret, 1)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // The re-sealed secret is bound too: copied to the owner, it opens for
    // nobody there.
    db_exec(&app, sql, &[&resealed, &owner_id]).await;
    let ch = challenge(&app, "owner@acme.test").await;
    let r = second_step(&app, &ch, &code(&admin_secret, 1)).await;
    assert_eq!(r.status, 401);
}
