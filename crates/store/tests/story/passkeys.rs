//! The store story of passkeys: added and removed with their audit events
//! and mail, found by credential id, a counter moved by one sign-in only,
//! and ceremony challenges taken once and not after they expire; on both
//! backends.

use keygate_core::crypto::sha256;
use keygate_core::{PasskeyId, UserId};
use keygate_store::{
    PasskeyChallengeRecord, PasskeyPurpose, PasskeyRecord, Store, StoreError, UserMail,
};

use crate::story::{NOW, acme, event};

fn passkey(user_id: &UserId, credential_id: &str) -> PasskeyRecord {
    PasskeyRecord {
        passkey_id: PasskeyId::generate(),
        user_id: user_id.clone(),
        name: "Laptop".into(),
        credential_id: credential_id.into(),
        user_handle: "aGFuZGxl".into(),
        static_state: "c3RhdGlj".into(),
        dynamic_state: "ZHluYW1pYw".into(),
        sign_count: 0,
        created_at: NOW,
        last_used_at: None,
    }
}

pub async fn passkeys_are_kept_per_user_and_their_challenges_work_once(
    store: &dyn Store,
    _pg: bool,
) {
    let acme = acme(store).await;
    let (org_id, owner) = (&acme.org.org_id, &acme.owner);
    let mail = UserMail::notice("owner@acme.test", "A passkey was added", "…");
    let pk = passkey(owner, "Y3JlZC0x");
    store
        .add_passkey(
            &pk,
            &[event(Some(org_id), "passkey.added", None)],
            std::slice::from_ref(&mail),
        )
        .await
        .unwrap();
    // One credential id, one passkey.
    let again = store
        .add_passkey(&passkey(owner, "Y3JlZC0x"), &[], &[mail])
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(store.passkeys(owner).await.unwrap(), vec![pk.clone()]);
    let found = store.passkey_by_credential("Y3JlZC0x").await.unwrap();
    assert_eq!(found.as_ref(), Some(&pk));
    assert!(
        store
            .passkey_by_credential("bm9uZQ")
            .await
            .unwrap()
            .is_none()
    );

    // Two sign-ins that saw counter 0: the first moves it, the second does not.
    assert!(
        store
            .use_passkey(&pk.passkey_id, 0, 1, "bmV3", NOW + 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_passkey(&pk.passkey_id, 0, 1, "bmV3", NOW + 2)
            .await
            .unwrap()
    );
    let used = store.passkeys(owner).await.unwrap().remove(0);
    assert_eq!((used.sign_count, used.last_used_at), (1, Some(NOW + 1)));

    // Removing is per user: another user's id finds nothing.
    let stranger = UserId::generate();
    let gone = store
        .remove_passkey(&stranger, &pk.passkey_id, &[], &[])
        .await;
    assert!(matches!(gone, Err(StoreError::NotFound)), "{gone:?}");
    store
        .remove_passkey(
            owner,
            &pk.passkey_id,
            &[event(Some(org_id), "passkey.removed", None)],
            &[],
        )
        .await
        .unwrap();
    assert!(store.passkeys(owner).await.unwrap().is_empty());

    // A challenge is taken once, for its purpose, before it expires.
    let challenge = |name: &str, purpose| PasskeyChallengeRecord {
        challenge_hash: sha256(name.as_bytes()),
        purpose,
        user_id: (purpose == PasskeyPurpose::Register).then(|| owner.clone()),
        server_state: "c3RhdGU".into(),
        expires_at: NOW + 300_000,
        created_at: NOW,
    };
    let reg = challenge("reg", PasskeyPurpose::Register);
    store.create_passkey_challenge(&reg).await.unwrap();
    let wrong = store
        .take_passkey_challenge(&reg.challenge_hash, PasskeyPurpose::SignIn, NOW)
        .await
        .unwrap();
    assert!(wrong.is_none(), "taken for another purpose");
    let taken = store
        .take_passkey_challenge(&reg.challenge_hash, PasskeyPurpose::Register, NOW)
        .await
        .unwrap();
    assert_eq!(taken, Some(reg.clone()));
    let twice = store
        .take_passkey_challenge(&reg.challenge_hash, PasskeyPurpose::Register, NOW)
        .await
        .unwrap();
    assert!(twice.is_none(), "taken twice");
    let sign_in = challenge("sign-in", PasskeyPurpose::SignIn);
    store.create_passkey_challenge(&sign_in).await.unwrap();
    let late = store
        .take_passkey_challenge(
            &sign_in.challenge_hash,
            PasskeyPurpose::SignIn,
            NOW + 300_000,
        )
        .await
        .unwrap();
    assert!(late.is_none(), "taken after it expired");
}
