//! Who a verified person is: their subject (the account's username, recorded in the ledger as the
//! actor), their roles and, for department staff and knowledge editors, their department.
//!
//! docs/roles.md is the table of which role may call which route; the services enforce it with
//! [`crate::Authorized`] (route level) and [`Principal`]'s checks (ticket level).

use std::collections::BTreeSet;

use hotline_domain::{Actor, DeptCode};
use serde::Serialize;

/// A person's role at the hotline. The token's role strings are the `snake_case` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 接线员: takes calls, files and answers tickets.
    Agent,
    /// 派单员: dispatches tickets to departments, drains the manual queue.
    Dispatcher,
    /// 督办: supervises, decides extensions and returns, may reveal contact details.
    Supervisor,
    /// Edits the knowledge base for their department (the centre's editors review and publish).
    KnowledgeEditor,
    /// The centre's administrator: the catalogue, accounts, everything a supervisor may do.
    Admin,
    /// A person of a department: sees and acts on their department's tickets only.
    DepartmentStaff,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Agent,
        Role::Dispatcher,
        Role::Supervisor,
        Role::KnowledgeEditor,
        Role::Admin,
        Role::DepartmentStaff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Dispatcher => "dispatcher",
            Role::Supervisor => "supervisor",
            Role::KnowledgeEditor => "knowledge_editor",
            Role::Admin => "admin",
            Role::DepartmentStaff => "department_staff",
        }
    }

    /// The role named by a token's role string; `None` for roles of other systems (ignored).
    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// Roles that mean something only with a department.
    pub fn needs_department(self) -> bool {
        matches!(self, Role::DepartmentStaff | Role::KnowledgeEditor)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Roles of the hotline centre itself (as opposed to a department's people).
pub const CENTRE_ROLES: &[Role] = &[Role::Agent, Role::Dispatcher, Role::Supervisor, Role::Admin];

/// Roles that may see a citizen's contact details unmasked, one audited reveal at a time.
pub const REVEAL_ROLES: &[Role] = &[Role::Agent, Role::Supervisor, Role::Admin];

/// A verified person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The token's `sub`: the account's username.
    pub subject: String,
    /// Display name, when the issuer gives one. Never logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub roles: BTreeSet<Role>,
    /// The department of department staff and knowledge editors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<DeptCode>,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.roles.contains(r))
    }

    /// Someone of the hotline centre (agent, dispatcher, supervisor, administrator).
    pub fn is_centre(&self) -> bool {
        self.has_any(CENTRE_ROLES)
    }

    /// May see contact details unmasked through an audited reveal.
    pub fn may_reveal(&self) -> bool {
        self.has_any(REVEAL_ROLES)
    }

    /// The department whose tickets this person is limited to: `Some` for department staff who
    /// hold no centre role. Centre roles see every ticket.
    pub fn limited_to_department(&self) -> Option<&DeptCode> {
        if self.is_centre() {
            None
        } else {
            self.department
                .as_ref()
                .filter(|_| self.has(Role::DepartmentStaff))
        }
    }

    /// The actor the ledger records for this person: the centre's people by their subject,
    /// department staff as their department (what the ledger's rules know).
    pub fn actor(&self) -> Option<Actor> {
        if self.is_centre() {
            Some(Actor::Agent {
                id: self.subject.clone(),
            })
        } else {
            self.limited_to_department()
                .map(|code| Actor::Department { code: code.clone() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[Role], dept: Option<&str>) -> Principal {
        Principal {
            subject: "someone".into(),
            name: None,
            roles: roles.iter().copied().collect(),
            department: dept.map(|d| DeptCode::parse(d).expect("code")),
        }
    }

    #[test]
    fn role_names_round_trip_and_unknown_names_are_ignored() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn department_staff_are_limited_and_act_as_their_department() {
        let staff = principal(&[Role::DepartmentStaff], Some("GZ-TH"));
        assert_eq!(
            staff.limited_to_department().map(|d| d.as_str()),
            Some("GZ-TH")
        );
        assert!(matches!(staff.actor(), Some(Actor::Department { .. })));
        assert!(!staff.may_reveal());

        let agent = principal(&[Role::Agent], None);
        assert_eq!(agent.limited_to_department(), None);
        assert_eq!(
            agent.actor(),
            Some(Actor::Agent {
                id: "someone".into()
            })
        );
        assert!(agent.may_reveal());

        let editor = principal(&[Role::KnowledgeEditor], Some("GZ-TH"));
        assert_eq!(editor.actor(), None, "an editor alone acts on no ticket");
        assert!(!principal(&[Role::Dispatcher], None).may_reveal());
    }
}
