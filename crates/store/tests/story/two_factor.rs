//! Two-factor sign-in: codes and recovery codes work once, sessions record the
//! factors they were made with, and the organization's policy reads them.

use crate::story::{NOW, acme, event};
use keygate_core::crypto::sha256;
use keygate_core::{Role, SessionFactors};
use keygate_store::{SessionRecord, Store, StoreError};

pub async fn two_factor_codes_and_recovery_codes_work_once(store: &dyn Store, _pg: bool) {
    let acme = acme(store).await;
    let (org_id, owner) = (&acme.org.org_id, &acme.owner);
    assert!(store.two_factor(owner).await.unwrap().is_none());
    store
        .begin_two_factor(owner, "v1.sealed", NOW)
        .await
        .unwrap();
    // Re-enrolling while pending replaces the secret.
    store
        .begin_two_factor(owner, "v1.again", NOW)
        .await
        .unwrap();
    let pending = store.two_factor(owner).await.unwrap().unwrap();
    assert_eq!(
        (pending.sealed_secret.as_str(), pending.enabled_at),
        ("v1.again", None)
    );
    assert!(
        !store.use_totp_step(owner, 5, NOW).await.unwrap(),
        "not on yet"
    );

    // Two sessions of the owner, both made with the password alone; the
    // second confirms the enrolment.
    let other = crate::people::session(owner, b"other session");
    let confirming = crate::people::session(owner, b"confirming session");
    for s in [&other, &confirming] {
        store.create_session(s, &[]).await.unwrap();
    }
    let factors = |s: &SessionRecord| {
        let hash = s.session_hash;
        async move {
            store
                .session(&hash, NOW + 1)
                .await
                .unwrap()
                .map(|(_, s)| s.factors)
        }
    };
    assert_eq!(factors(&confirming).await, Some(SessionFactors::Password));

    let codes = [sha256(b"one"), sha256(b"two")];
    let on = event(Some(org_id), "two_factor.enabled", None);
    store
        .enable_two_factor(owner, 10, &codes, &confirming.session_hash, NOW, &[on], &[])
        .await
        .unwrap();
    // The confirming session passed a code; the other one ended.
    assert_eq!(
        factors(&confirming).await,
        Some(SessionFactors::PasswordAndCode)
    );
    assert_eq!(factors(&other).await, None);
    // A session stored as made with a code reads back so.
    let mut with_code = crate::people::session(owner, b"with a code");
    with_code.factors = SessionFactors::PasswordAndCode;
    store.create_session(&with_code, &[]).await.unwrap();
    assert_eq!(
        factors(&with_code).await,
        Some(SessionFactors::PasswordAndCode)
    );

    // Re-sealing replaces a secret only while it is still the old one.
    let seals = store.two_factor_seals().await.unwrap();
    assert_eq!(
        seals
            .iter()
            .map(|t| (&t.user_id, t.sealed_secret.as_str()))
            .collect::<Vec<_>>(),
        [(owner, "v1.again")]
    );
    assert!(
        !store
            .reseal_two_factor(owner, "v1.other", "v2.new", NOW)
            .await
            .unwrap()
    );
    assert!(
        store
            .reseal_two_factor(owner, "v1.again", "v2.bound", NOW)
            .await
            .unwrap()
    );
    let on_now = store.two_factor(owner).await.unwrap().unwrap();
    assert_eq!(
        (on_now.sealed_secret.as_str(), on_now.enabled_at),
        ("v2.bound", Some(NOW))
    );
    assert!(matches!(
        store.begin_two_factor(owner, "v1.x", NOW).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.members(org_id).await.unwrap()[0].two_factor);

    assert!(
        !store.use_totp_step(owner, 10, NOW).await.unwrap(),
        "the confirming step"
    );
    assert!(store.use_totp_step(owner, 11, NOW).await.unwrap());
    assert!(
        !store.use_totp_step(owner, 11, NOW).await.unwrap(),
        "replayed"
    );
    let used = event(Some(org_id), "two_factor.recovery_code_used", None);
    assert!(
        store
            .use_recovery_code(owner, &codes[0], NOW, std::slice::from_ref(&used), &[])
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_recovery_code(owner, &codes[0], NOW, &[used], &[])
            .await
            .unwrap()
    );

    let ch = sha256(b"challenge");
    store
        .create_two_factor_challenge(&ch, owner, NOW, NOW + 1000)
        .await
        .unwrap();
    assert_eq!(
        store
            .attempt_two_factor_challenge(&ch, NOW, 2)
            .await
            .unwrap()
            .as_ref(),
        Some(owner)
    );
    assert!(
        store
            .attempt_two_factor_challenge(&ch, NOW + 1000, 2)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(
        store
            .attempt_two_factor_challenge(&ch, NOW, 2)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .attempt_two_factor_challenge(&ch, NOW, 2)
            .await
            .unwrap()
            .is_none(),
        "no attempts left"
    );
    store.end_two_factor_challenge(&ch).await.unwrap();

    // The policy: only members without two-factor lack it.
    let added = crate::people::join(store, org_id, "dev@acme.test", Role::Developer).await;
    assert!(!store.require_two_factor(org_id).await.unwrap());
    assert!(
        !store
            .lacks_required_two_factor(org_id, &added.user_id, SessionFactors::Password)
            .await
            .unwrap()
    );
    store
        .set_require_two_factor(org_id, true, &event(Some(org_id), "org.updated", None))
        .await
        .unwrap();
    assert!(store.require_two_factor(org_id).await.unwrap());
    assert!(
        store
            .lacks_required_two_factor(org_id, &added.user_id, SessionFactors::Password)
            .await
            .unwrap()
    );
    assert!(
        !store
            .lacks_required_two_factor(org_id, owner, SessionFactors::PasswordAndCode)
            .await
            .unwrap()
    );
    // The owner has two-factor on, but a session made with the password
    // alone falls short.
    assert!(
        store
            .lacks_required_two_factor(org_id, owner, SessionFactors::Password)
            .await
            .unwrap()
    );

    store
        .disable_two_factor(
            owner,
            &[event(Some(org_id), "two_factor.disabled", None)],
            &[keygate_store::UserMail::notice(
                "owner@acme.test",
                "off",
                "off",
            )],
        )
        .await
        .unwrap();
    assert!(store.two_factor(owner).await.unwrap().is_none());
    assert!(
        store
            .lacks_required_two_factor(org_id, owner, SessionFactors::PasswordAndCode)
            .await
            .unwrap(),
        "a session made with a code, of a user who turned it off"
    );
    assert!(
        !store
            .use_recovery_code(owner, &codes[1], NOW, &[], &[])
            .await
            .unwrap()
    );
}
