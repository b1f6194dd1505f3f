//! Organizations and people: `keygate org create` on the app's data dir,
//! signing in, and inviting a member through the mailed link.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Org, PASSWORD, Session, TestApp};

impl TestApp {
    pub async fn create_org(&self, name: &str, email: &str, accounts: &[&str]) -> Org {
        let mut args = vec!["org", "create", "--name", name, "--owner-email", email];
        args.push("--owner-password-stdin");
        for a in accounts {
            args.extend(["--account", a]);
        }
        let out = self.cli(&args, &format!("{PASSWORD}\n"));
        assert!(
            out.status.success(),
            "org create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.created_org(&out.stdout, email).await
    }

    /// `keygate org create --existing-owner`: the account with `email` (which
    /// must exist) owns the new organization; its password stays.
    pub async fn create_org_existing_owner(
        &self,
        name: &str,
        email: &str,
        accounts: &[&str],
    ) -> Org {
        let mut args = vec!["org", "create", "--name", name, "--owner-email", email];
        args.push("--existing-owner");
        for a in accounts {
            args.extend(["--account", a]);
        }
        let out = self.cli(&args, "");
        assert!(
            out.status.success(),
            "org create --existing-owner: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.created_org(&out.stdout, email).await
    }

    /// The organization `keygate org create` printed, its owner signed in.
    async fn created_org(&self, stdout: &[u8], email: &str) -> Org {
        let v: Value = serde_json::from_slice(stdout).unwrap();
        Org {
            org_id: v["org_id"].as_str().unwrap().to_owned(),
            accounts: v["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["account_id"].as_str().unwrap().to_owned())
                .collect(),
            owner: self.sign_in(email, PASSWORD).await,
        }
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Session {
        let r = self
            .req(
                Method::POST,
                "/dev/v1/sessions",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, 201, "sign in {email}: {}", r.body);
        Session {
            token: r.body["session_token"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
        }
    }

    /// Invites `email` with `role` as the org's owner, follows the mailed link
    /// and accepts it with `PASSWORD`: the way people join an organization.
    pub async fn invite_member(&self, org: &Org, email: &str, role: &str) -> Session {
        let r = self
            .req(
                Method::POST,
                &format!("/dev/v1/orgs/{}/invitations", org.org_id),
                Some(&org.owner),
                Some(json!({"email": email, "role": role, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 201, "invite {email}: {}", r.body);
        let link = self.mailed_link(email, "/app/invitations/").await;
        let token = link.rsplit('/').next().unwrap();
        let r = self
            .req(
                Method::POST,
                "/dev/v1/invitations/accept",
                None,
                Some(json!({"token": token, "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            r.status, 201,
            "accept the invitation of {email}: {}",
            r.body
        );
        Session {
            token: r.body["session_token"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
        }
    }
}
