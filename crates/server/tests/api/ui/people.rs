//! People in the app: members, accounts, invitations and password resets, in
//! the browser and without JavaScript.

use reqwest::Method;
use serde_json::json;

use super::{NoJs, api_scoped_key, browser, csrf, org_with_two_accounts, role_of, signed_in};
use crate::helpers::{PASSWORD, cid, spawn_app};

#[tokio::test]
async fn owners_manage_members_and_accounts_switch_orgs_and_filter_the_audit_log() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let other = app
        .create_org_existing_owner("Beta Labs", "owner@acme.test", &["Beta EU"])
        .await;
    let key = api_scoped_key(&app, &org, "Reporting").await;
    app.admin_key(&org, &org.org_id).await;
    let Some(b) = browser(&app, "members").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;

    // Organization switcher.
    b.go(&format!("/app/orgs/{}/settings", org.org_id)).await;
    b.click(".switcher > summary").await;
    b.click_text("div[@class='switcher-menu']//a", "Beta Labs")
        .await;
    b.wait_for_text("Beta EU").await;
    assert!(b.path().await.contains(&other.org_id));

    // Accounts.
    b.go(&format!("/app/orgs/{}/settings/accounts", org.org_id))
        .await;
    b.fill("#name", "Acme SG").await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Create account").await;
    b.wait_for_text("Account created.").await;
    assert!(b.text().await.contains("Acme SG"));

    // Members: invite (the link goes by mail), then change the role of the
    // person who accepted.
    b.click_text("nav[@class='sidebar']//a", "Members").await;
    b.fill("#email", "dev@acme.test").await;
    b.css("#role")
        .await
        .select_by_value("developer")
        .await
        .unwrap();
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Send invitation").await;
    b.wait_for_text("Invitation sent.").await;
    assert!(b.text().await.contains("Pending invitations"));
    let link = app.mailed_link("dev@acme.test", "/app/invitations/").await;
    let r = app
        .req(
            Method::POST,
            "/dev/v1/invitations/accept",
            None,
            Some(json!({"token": link.rsplit('/').next().unwrap(), "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201);
    b.click_text("nav[@class='sidebar']//a", "Members").await;
    b.wait_for_text("No pending invitations.").await;
    // Row actions ask for the password in the same dialog as key actions.
    b.css("select[id^='role-']")
        .await
        .select_by_value("analyst")
        .await
        .unwrap();
    b.click_text("tr[contains(., 'dev@acme.test')]//button", "Change role")
        .await;
    b.confirm("not-my-password-at-all", "Change role").await;
    b.wait_for_text("That password is not correct. Nothing was changed.")
        .await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Change role").await;
    b.wait_for_text("Role changed.").await;
    assert_eq!(b.value("select[id^='role-']").await, "analyst");
    b.shot("members").await;

    // Audit log, filtered by key.
    b.click_text("nav[@class='sidebar']//a", "Audit log").await;
    b.wait_for_text("member.joined").await;
    b.css("#client_id")
        .await
        .select_by_value(cid(&key))
        .await
        .unwrap();
    b.click_text("button", "Filter").await;
    b.wait_for_text("scoped_key.created").await;
    let text = b.text().await;
    assert!(
        !text.contains("admin_key.generated") && !text.contains("member.joined"),
        "{text}"
    );
    b.shot("audit-log").await;
    b.close().await;
}

// ---- Plain HTTP: the app without JavaScript, headers, cookies, form tokens ----

#[tokio::test]
async fn an_invitation_is_sent_from_members_and_accepted_in_another_browser() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    {
        let Some(b) = browser(&app, "invite").await else {
            return;
        };
        b.sign_in(&org.owner.email, PASSWORD).await;
        b.go(&format!("/app/orgs/{}/settings/members", org.org_id))
            .await;
        b.fill("#email", "new@acme.test").await;
        b.css("#role").await.select_by_value("admin").await.unwrap();
        b.fill("#password", PASSWORD).await;
        b.click_text("button", "Send invitation").await;
        b.wait_for_text("Invitation sent.").await;
        let text = b.text().await;
        assert!(
            text.contains("new@acme.test") && text.contains("Withdraw"),
            "{text}"
        );
        b.shot("members-pending-invitation").await;
        b.close().await;
    }
    // A second browser: nobody signed in, only the mailed link.
    let link = app.mailed_link("new@acme.test", "/app/invitations/").await;
    let path = link
        .split_once("/app/")
        .map(|(_, p)| format!("/app/{p}"))
        .unwrap();
    let Some(b) = browser(&app, "accept").await else {
        return;
    };
    b.go(&path).await;
    b.wait_for_text("Join Acme").await;
    assert!(b.text().await.contains("as Admin"), "{}", b.text().await);
    b.shot("accept-invitation").await;
    b.fill("#password", "short").await;
    b.click_text("button", "Accept and sign in").await;
    b.wait_for_text("15").await;
    b.fill("#password", "a-long-password-for-the-newcomer")
        .await;
    app.remember("a-long-password-for-the-newcomer");
    b.click_text("button", "Accept and sign in").await;
    b.wait_for_text("Sign out").await;
    assert!(b.path().await.contains(&org.org_id), "{}", b.path().await);
    assert!(b.text().await.contains("new@acme.test"));
    // The link worked once.
    b.go(&path).await;
    b.wait_for_text("not found").await;
    b.close().await;
}

#[tokio::test]
async fn forgot_password_mails_a_link_and_the_new_password_signs_in() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let Some(b) = browser(&app, "forgot").await else {
        return;
    };
    b.go("/app/sign-in").await;
    b.click_text("a", "Forgot password?").await;
    b.fill("#email", &org.owner.email).await;
    b.click_text("button", "Send reset link").await;
    b.wait_for_text("a link to choose a new password is on its way")
        .await;
    let link = app
        .mailed_link(&org.owner.email, "/app/password-reset/")
        .await;
    let path = link
        .split_once("/app/")
        .map(|(_, p)| format!("/app/{p}"))
        .unwrap();
    b.go(&path).await;
    b.wait_for_text("Choose a new password").await;
    let new_pw = "a-brand-new-passphrase-2027";
    app.remember(new_pw);
    b.fill("#new_password", new_pw).await;
    b.fill("#confirm_password", new_pw).await;
    b.click_text("button", "Set new password").await;
    b.wait_for_text("Sign in with your new password").await;
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&org.owner), None)
            .await
            .status,
        401,
        "the sessions from before the reset ended"
    );
    b.fill("#email", &org.owner.email).await;
    b.fill("#password", new_pw).await;
    b.click("form button[type=submit]").await;
    b.wait_for_text("Sign out").await;

    // Security: this session and the other one; sign the other one out.
    let other = app.sign_in(&org.owner.email, new_pw).await;
    b.click_text("a", "Security").await;
    b.wait_for_text("This session").await;
    b.shot("security").await;
    b.click_text("tr[not(contains(., 'This session'))]//button", "Sign out")
        .await;
    b.wait_for_text("Session signed out.").await;
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&other), None)
            .await
            .status,
        401
    );
    b.close().await;
}

#[tokio::test]
async fn member_and_account_changes_in_the_app_ask_for_the_password_without_javascript_too() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    app.invite_member(&org, "dev@acme.test", "developer").await;
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/members", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    let dev = r.body[1]["user_id"].as_str().unwrap().to_owned();
    let c = signed_in(&app, "owner@acme.test").await;
    let members = format!("/app/orgs/{}/settings/members", org.org_id);
    let wrong = "not-my-password-at-all";

    // The row's button alone leads to the password prompt, counting nothing.
    let (_, _, page) = c.get(&members).await;
    let (st, _, prompt) = c
        .post(
            &format!("{members}/{dev}/role"),
            &[("csrf", csrf(&page).as_str()), ("role", "admin")],
        )
        .await;
    assert_eq!(st, 200);
    assert!(prompt.contains("Change role") && prompt.contains("type=\"password\""));
    assert!(prompt.contains("name=\"role\" value=\"admin\""));
    let (st, _, prompt) = c
        .post(
            &format!("{members}/{dev}/role"),
            &[
                ("csrf", csrf(&prompt).as_str()),
                ("role", "admin"),
                ("password", wrong),
            ],
        )
        .await;
    assert_eq!(st, 401);
    assert!(prompt.contains("That password is not correct. Nothing was changed."));
    assert_eq!(
        role_of(&app, &org, "dev@acme.test").await.as_deref(),
        Some("developer")
    );
    let (st, _, page) = c
        .post(
            &format!("{members}/{dev}/role"),
            &[
                ("csrf", csrf(&prompt).as_str()),
                ("role", "admin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(st, 200);
    assert!(page.contains("Role changed."));
    assert_eq!(
        role_of(&app, &org, "dev@acme.test").await.as_deref(),
        Some("admin")
    );

    // Removing: a wrong password changes nothing, the right one removes.
    let (st, _, prompt) = c
        .post(
            &format!("{members}/{dev}/remove"),
            &[("csrf", csrf(&page).as_str()), ("password", wrong)],
        )
        .await;
    assert_eq!(st, 401);
    assert!(role_of(&app, &org, "dev@acme.test").await.is_some());
    let (_, _, page) = c
        .post(
            &format!("{members}/{dev}/remove"),
            &[("csrf", csrf(&prompt).as_str()), ("password", PASSWORD)],
        )
        .await;
    assert!(page.contains("Member removed."));
    assert!(role_of(&app, &org, "dev@acme.test").await.is_none());

    // Inviting and creating an account: the form's password field.
    let invitations = format!("/app/orgs/{}/settings/invitations", org.org_id);
    let (st, _, page) = c
        .post(
            &invitations,
            &[
                ("csrf", csrf(&page).as_str()),
                ("email", "new@acme.test"),
                ("role", "viewer"),
                ("password", wrong),
            ],
        )
        .await;
    assert_eq!(st, 401);
    assert!(page.contains("That password is not correct. Nothing was changed."));
    let pending = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(pending.body, json!([]), "nobody was invited");
    let accounts = format!("/app/orgs/{}/settings/accounts", org.org_id);
    let (_, _, page) = c.get(&accounts).await;
    let (st, _, page) = c
        .post(
            &accounts,
            &[
                ("csrf", csrf(&page).as_str()),
                ("name", "Acme SG"),
                ("password", wrong),
            ],
        )
        .await;
    assert_eq!(st, 401);
    assert!(page.contains("That password is not correct. Nothing was changed."));
    let (st, _, page) = c
        .post(
            &accounts,
            &[
                ("csrf", csrf(&page).as_str()),
                ("name", "Acme SG"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(st, 200);
    assert!(page.contains("Account created.") && page.contains("Acme SG"));
}

#[tokio::test]
async fn invitation_and_reset_pages_work_without_javascript_and_refuse_a_replayed_form() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    app.create_org("Other", "other@acme.test", &[]).await;
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(&org.owner),
            Some(json!({"email": "other@acme.test", "role": "analyst", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201);
    let link = app
        .mailed_link("other@acme.test", "/app/invitations/")
        .await;
    let path = link
        .split_once("/app/")
        .map(|(_, p)| format!("/app/{p}"))
        .unwrap();
    let c = NoJs::new(&app);
    let (st, _, page) = c.get(&path).await;
    assert_eq!(st, 200);
    assert!(
        page.contains("Join Acme") && page.contains("Analyst"),
        "{page}"
    );
    // An existing account: its own password, not a new one.
    let (st, _, again) = c
        .post(
            &path,
            &[
                ("csrf", csrf(&page).as_str()),
                ("password", "not-their-password-1"),
            ],
        )
        .await;
    assert_eq!(st, 401);
    assert!(again.contains("That password is not correct for this account."));
    let (st, _, replay) = c
        .post(
            &path,
            &[("csrf", csrf(&page).as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(st, 400, "a used form token");
    assert!(replay.contains("The form expired"));
    let (st, _, home) = c
        .post(
            &path,
            &[("csrf", csrf(&replay).as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(st, 200);
    assert!(
        home.contains("other@acme.test") && home.contains("Sign out"),
        "{home}"
    );
    let (st, _, _) = c.get(&path).await;
    assert_eq!(st, 404, "used");

    // Forgot password: the same answer for an unknown email; the page of a
    // link that does not exist is not found.
    let c = NoJs::new(&app);
    let (_, _, page) = c.get("/app/password-reset").await;
    let (st, _, sent) = c
        .post(
            "/app/password-reset",
            &[
                ("csrf", csrf(&page).as_str()),
                ("email", "nobody@nowhere.test"),
            ],
        )
        .await;
    assert_eq!(st, 200);
    assert!(sent.contains("If this email has a Keygate account"));
    let (st, _, _) = c.get("/app/password-reset/not-a-real-token").await;
    assert_eq!(st, 404);
    // The line is written as the answer goes out; the test reads the
    // server's output on another thread, so it waits for it.
    assert!(
        app.wait_for_log("/app/password-reset/…", 10).await,
        "the token is not logged"
    );
    assert!(!app.log().contains("not-a-real-token"));
}
