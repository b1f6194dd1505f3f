//! Member roles and what each may do.

use serde::{Deserialize, Serialize};

/// A member's role in one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Developer,
    Analyst,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Developer,
        Role::Analyst,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Owner, admin and developer may use the Developer app: see and change keys.
    pub fn can_manage_keys(self) -> bool {
        matches!(self, Role::Owner | Role::Admin | Role::Developer)
    }

    /// Owner and admin manage members, accounts and webhooks.
    pub fn can_manage_org(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Whether a member with this role may invite someone as `role`: only a
    /// member who manages the organization, and never above their own role.
    /// An invitation stands only while its inviter still may send it, so a
    /// removed or demoted admin's links stop working.
    pub fn may_invite_as(self, role: Role) -> bool {
        self.can_manage_org() && self.rank() <= role.rank() && role != Role::Owner
    }

    /// 0 for the owner, growing as roles may do less (the order of `ALL`).
    fn rank(self) -> usize {
        Role::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owner_admin_and_developer_manage_keys() {
        let allowed: Vec<_> = Role::ALL
            .into_iter()
            .filter(|r| r.can_manage_keys())
            .collect();
        assert_eq!(allowed, [Role::Owner, Role::Admin, Role::Developer]);
    }

    #[test]
    fn only_managers_invite_and_never_above_their_own_role() {
        assert!(Role::Owner.may_invite_as(Role::Admin));
        assert!(Role::Admin.may_invite_as(Role::Admin));
        assert!(Role::Admin.may_invite_as(Role::Viewer));
        assert!(!Role::Owner.may_invite_as(Role::Owner));
        for low in [Role::Developer, Role::Analyst, Role::Viewer] {
            for role in Role::ALL {
                assert!(!low.may_invite_as(role), "{low:?} invites {role:?}");
            }
        }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
