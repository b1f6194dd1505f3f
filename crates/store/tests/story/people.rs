//! The store story of people: invitations, password resets and sessions, on
//! both backends.

use keygate_core::crypto::sha256;
use keygate_core::{InvitationId, Role, SessionFactors, SessionId};
use keygate_store::{
    DeliveryQuery, DeliveryTarget, InvitationRecord, MailLink, PasswordResetRecord, SessionRecord,
    Store, StoreError, UserMail,
};

use crate::story::{NOW, acme, event, user};

fn mail(to: &str) -> UserMail {
    UserMail {
        to: to.into(),
        subject: "You are invited".into(),
        text: "Open {link}".into(),
        link: Some(MailLink {
            path: "/app/invitations/".into(),
            nonce: "00".repeat(32),
        }),
    }
}

pub(crate) fn session(user_id: &keygate_core::UserId, token: &[u8]) -> SessionRecord {
    SessionRecord {
        session_hash: sha256(token),
        session_id: SessionId::generate(),
        user_id: user_id.clone(),
        created_at: NOW,
        expires_at: NOW + 60_000,
        last_seen_at: NOW,
        ip: Some("127.0.0.1".into()),
        user_agent: Some("story".into()),
        factors: SessionFactors::Password,
    }
}

/// Invites `email` with `role` and accepts as a new user: how people join.
pub(crate) async fn join(
    store: &dyn Store,
    org_id: &keygate_core::OrgId,
    email: &str,
    role: Role,
) -> keygate_store::UserRecord {
    let inv = InvitationRecord {
        invitation_id: InvitationId::generate(),
        org_id: org_id.clone(),
        org_name: String::new(),
        email: email.into(),
        role,
        token_hash: sha256(email.as_bytes()),
        invited_by: None,
        invited_by_email: None,
        inviter_role: None,
        expires_at: NOW + 1000,
        created_at: NOW,
    };
    let created = event(Some(org_id), "invitation.created", None);
    store
        .create_invitation(&inv, &created, &mail(email))
        .await
        .unwrap();
    let u = user(email);
    let s = session(&u.user_id, email.as_bytes());
    let joined = [event(Some(org_id), "member.joined", None)];
    store
        .accept_invitation(&inv, &u, true, &s, &joined)
        .await
        .unwrap();
    u
}

pub async fn invitations_resets_and_sessions_are_single_use_and_mail_one_person(
    store: &dyn Store,
    _pg: bool,
) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let inv = InvitationRecord {
        invitation_id: InvitationId::generate(),
        org_id: org_id.clone(),
        org_name: String::new(),
        email: "new@acme.test".into(),
        role: Role::Developer,
        token_hash: sha256(b"invitation token"),
        invited_by: Some(acme.owner.clone()),
        invited_by_email: None,
        inviter_role: None,
        expires_at: NOW + 1000,
        created_at: NOW,
    };
    let created = event(Some(org_id), "invitation.created", None);
    store
        .create_invitation(&inv, &created, &mail("new@acme.test"))
        .await
        .unwrap();
    let again = InvitationRecord {
        invitation_id: InvitationId::generate(),
        token_hash: sha256(b"another token"),
        ..inv.clone()
    };
    let r = store
        .create_invitation(&again, &created, &mail("new@acme.test"))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "pending: {r:?}");
    let member = InvitationRecord {
        invitation_id: InvitationId::generate(),
        email: "owner@acme.test".into(),
        token_hash: sha256(b"third token"),
        ..inv.clone()
    };
    let r = store
        .create_invitation(&member, &created, &mail("owner@acme.test"))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "member: {r:?}");

    // The mail is one delivery to that one address, shown under the org.
    let q = DeliveryQuery {
        org_id: org_id.clone(),
        webhook_id: None,
        before: None,
        limit: 50,
    };
    let queued = store.deliveries(&q).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].event_name, "user_mail");
    assert_eq!(
        queued[0].target,
        DeliveryTarget::Email("new@acme.test".into())
    );

    assert_eq!(store.invitations(org_id, NOW).await.unwrap().len(), 1);
    let found = store
        .invitation_by_token(&inv.token_hash, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.org_name.as_str(), found.role),
        ("Acme", Role::Developer)
    );
    assert!(
        store
            .invitation_by_token(&inv.token_hash, NOW + 1000)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );

    let newcomer = user("new@acme.test");
    let s = session(&newcomer.user_id, b"newcomer session");
    let accepted = [event(Some(org_id), "invitation.accepted", None)];
    store
        .accept_invitation(&found, &newcomer, true, &s, &accepted)
        .await
        .unwrap();
    let r = store
        .accept_invitation(&found, &newcomer, true, &s, &accepted)
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "single use: {r:?}");
    assert_eq!(
        store.role(org_id, &newcomer.user_id).await.unwrap(),
        Some(Role::Developer)
    );
    assert!(store.invitations(org_id, NOW).await.unwrap().is_empty());
    let (u, live) = store
        .session(&s.session_hash, NOW + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (u.email.as_str(), &live.session_id),
        ("new@acme.test", &s.session_id)
    );

    // Sessions: listed by user, ended by public id, never another user's.
    let second = session(&newcomer.user_id, b"second session");
    store.create_session(&second, &[]).await.unwrap();
    let list = store
        .sessions(&newcomer.user_id, NOW + 1, NOW)
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    assert!(
        store
            .sessions(&newcomer.user_id, NOW + 1, NOW + 1)
            .await
            .unwrap()
            .is_empty(),
        "idle"
    );
    let r = store
        .end_session(&acme.owner, &second.session_id, &[])
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)));
    store
        .end_session(&newcomer.user_id, &second.session_id, &[])
        .await
        .unwrap();
    assert!(
        store
            .session(&second.session_hash, NOW + 1)
            .await
            .unwrap()
            .is_none()
    );

    // A reset link works once and ends every session of the user.
    let reset = PasswordResetRecord {
        token_hash: sha256(b"reset token"),
        user_id: newcomer.user_id.clone(),
        expires_at: NOW + 1000,
        created_at: NOW,
    };
    store
        .create_password_reset(
            &reset,
            &[],
            &UserMail::notice("new@acme.test", "Reset", "{link}"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .password_reset_user(&reset.token_hash, NOW)
            .await
            .unwrap(),
        Some(newcomer.user_id.clone())
    );
    let notice = UserMail::notice("new@acme.test", "Changed", "Your password was changed.");
    store
        .complete_password_reset(
            &reset.token_hash,
            &newcomer.user_id,
            "new-hash",
            NOW + 1,
            &[],
            &notice,
        )
        .await
        .unwrap();
    assert!(
        store
            .session(&s.session_hash, NOW + 2)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .user(&newcomer.user_id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "new-hash"
    );
    let r = store
        .complete_password_reset(
            &reset.token_hash,
            &newcomer.user_id,
            "other",
            NOW + 2,
            &[],
            &notice,
        )
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "single use: {r:?}");
}
