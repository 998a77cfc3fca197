//! Who may do what to an item, and in which order: the knowledge base's rules, with no I/O.
//!
//! ```text
//!  write draft ──► draft ──submit──► review ──publish (centre)──► published ──► superseded
//!                    ▲                  │                             │        (by the next publish)
//!                    └─── new draft ◄── rejected (centre)             └─ retire (centre) ─► retired
//! ```
//!
//! A department writes and submits only its own items; the hotline centre reviews, publishes and
//! retires, and may write drafts for any item. A version is frozen once submitted: changes after
//! that are a new version, so every version that was ever reviewed stays readable and diffable.

use hotline_domain::DeptCode;
use serde::{Deserialize, Serialize};

use crate::model::ModelError;

/// Where a version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    Draft,
    Review,
    Published,
    Superseded,
    Retired,
    Rejected,
}

impl VersionStatus {
    pub const ALL: [VersionStatus; 6] = [
        VersionStatus::Draft,
        VersionStatus::Review,
        VersionStatus::Published,
        VersionStatus::Superseded,
        VersionStatus::Retired,
        VersionStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Draft => "draft",
            VersionStatus::Review => "review",
            VersionStatus::Published => "published",
            VersionStatus::Superseded => "superseded",
            VersionStatus::Retired => "retired",
            VersionStatus::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<VersionStatus> {
        VersionStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Who is editing, as authenticated at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Editor {
    /// A department, by its credential.
    Department(DeptCode),
    /// The hotline centre (its own department credential).
    Centre(DeptCode),
}

impl Editor {
    pub fn code(&self) -> &DeptCode {
        match self {
            Editor::Department(c) | Editor::Centre(c) => c,
        }
    }

    pub fn is_centre(&self) -> bool {
        matches!(self, Editor::Centre(_))
    }
}

/// What the store knows about an item when a step is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemState {
    pub owner: DeptCode,
    pub latest_version: i32,
    pub latest_status: VersionStatus,
    pub published_version: Option<i32>,
}

/// A step on an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write the working draft; `owner` is the owner the new content names.
    WriteDraft {
        owner: DeptCode,
    },
    Submit,
    Publish,
    Reject,
    Retire,
}

/// What the store must do after a step was allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Insert version `version` as a draft (a new item when `new_item`).
    NewDraft { version: i32, new_item: bool },
    /// Overwrite the current draft (a draft is one working copy until submitted).
    ReplaceDraft { version: i32 },
    /// Move `version` from `from` to `to`; `superseded` is the previously published version.
    Move {
        version: i32,
        from: VersionStatus,
        to: VersionStatus,
        superseded: Option<i32>,
    },
}

/// Why a step was refused. Callers match on these, never on text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GovernanceError {
    #[error("the item does not exist")]
    NotFound,
    #[error("only the owning department or the centre may change this item")]
    NotOwner,
    #[error("only the hotline centre may {0}")]
    CentreOnly(&'static str),
    #[error("only the centre may hand an item to another department")]
    OwnerChange,
    #[error("the item is in review; wait for the centre's decision before writing again")]
    InReview,
    #[error("only a version in review can be published or rejected (submit the draft first)")]
    NotInReview,
    #[error("there is no draft to submit")]
    NoDraft,
    #[error("the item has no published version")]
    NotPublished,
    #[error("matter code {0} is not in the dispatch catalogue")]
    UnknownMatter(String),
    #[error("{0}")]
    Model(#[from] ModelError),
}

/// Decides a step. `state` is `None` for an item the store does not have yet.
pub fn decide(
    editor: &Editor,
    step: &Step,
    state: Option<&ItemState>,
) -> Result<Outcome, GovernanceError> {
    let may_edit = |s: &ItemState| editor.is_centre() || *editor.code() == s.owner;
    match (step, state) {
        (Step::WriteDraft { owner }, None) => {
            if !editor.is_centre() && owner != editor.code() {
                return Err(GovernanceError::NotOwner);
            }
            Ok(Outcome::NewDraft {
                version: 1,
                new_item: true,
            })
        }
        (_, None) => Err(GovernanceError::NotFound),
        (Step::WriteDraft { owner }, Some(s)) => {
            if !may_edit(s) {
                return Err(GovernanceError::NotOwner);
            }
            if *owner != s.owner && !editor.is_centre() {
                return Err(GovernanceError::OwnerChange);
            }
            match s.latest_status {
                VersionStatus::Draft => Ok(Outcome::ReplaceDraft {
                    version: s.latest_version,
                }),
                VersionStatus::Review => Err(GovernanceError::InReview),
                _ => Ok(Outcome::NewDraft {
                    version: s.latest_version + 1,
                    new_item: false,
                }),
            }
        }
        (Step::Submit, Some(s)) => {
            if !may_edit(s) {
                return Err(GovernanceError::NotOwner);
            }
            if s.latest_status != VersionStatus::Draft {
                return Err(GovernanceError::NoDraft);
            }
            Ok(Outcome::Move {
                version: s.latest_version,
                from: VersionStatus::Draft,
                to: VersionStatus::Review,
                superseded: None,
            })
        }
        (Step::Publish | Step::Reject, Some(s)) => {
            let publish = *step == Step::Publish;
            if !editor.is_centre() {
                return Err(GovernanceError::CentreOnly(if publish {
                    "publish"
                } else {
                    "reject"
                }));
            }
            if s.latest_status != VersionStatus::Review {
                return Err(GovernanceError::NotInReview);
            }
            Ok(Outcome::Move {
                version: s.latest_version,
                from: VersionStatus::Review,
                to: if publish {
                    VersionStatus::Published
                } else {
                    VersionStatus::Rejected
                },
                superseded: if publish { s.published_version } else { None },
            })
        }
        (Step::Retire, Some(s)) => {
            if !editor.is_centre() {
                return Err(GovernanceError::CentreOnly("retire"));
            }
            let version = s.published_version.ok_or(GovernanceError::NotPublished)?;
            Ok(Outcome::Move {
                version,
                from: VersionStatus::Published,
                to: VersionStatus::Retired,
                superseded: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dept(s: &str) -> DeptCode {
        DeptCode::parse(s).expect("code")
    }

    fn rs() -> Editor {
        Editor::Department(dept("GZ-RS"))
    }

    fn centre() -> Editor {
        Editor::Centre(dept("GZ-CENTRE"))
    }

    fn state(latest: i32, status: VersionStatus, published: Option<i32>) -> ItemState {
        ItemState {
            owner: dept("GZ-RS"),
            latest_version: latest,
            latest_status: status,
            published_version: published,
        }
    }

    #[test]
    fn the_whole_loop_draft_review_publish_then_a_new_version() {
        let write = Step::WriteDraft {
            owner: dept("GZ-RS"),
        };
        assert_eq!(
            decide(&rs(), &write, None),
            Ok(Outcome::NewDraft {
                version: 1,
                new_item: true
            })
        );
        let draft = state(1, VersionStatus::Draft, None);
        assert_eq!(
            decide(&rs(), &write, Some(&draft)),
            Ok(Outcome::ReplaceDraft { version: 1 })
        );
        assert!(matches!(
            decide(&rs(), &Step::Submit, Some(&draft)),
            Ok(Outcome::Move {
                to: VersionStatus::Review,
                ..
            })
        ));
        let review = state(1, VersionStatus::Review, None);
        assert_eq!(
            decide(&rs(), &write, Some(&review)),
            Err(GovernanceError::InReview)
        );
        assert_eq!(
            decide(&centre(), &Step::Publish, Some(&review)),
            Ok(Outcome::Move {
                version: 1,
                from: VersionStatus::Review,
                to: VersionStatus::Published,
                superseded: None
            })
        );
        let published = state(1, VersionStatus::Published, Some(1));
        assert_eq!(
            decide(&rs(), &write, Some(&published)),
            Ok(Outcome::NewDraft {
                version: 2,
                new_item: false
            })
        );
        let second = state(2, VersionStatus::Review, Some(1));
        assert_eq!(
            decide(&centre(), &Step::Publish, Some(&second)),
            Ok(Outcome::Move {
                version: 2,
                from: VersionStatus::Review,
                to: VersionStatus::Published,
                superseded: Some(1)
            })
        );
    }

    #[test]
    fn departments_edit_only_their_own_and_only_the_centre_publishes() {
        let other = Editor::Department(dept("GZ-JT"));
        let draft = state(1, VersionStatus::Draft, None);
        let write = Step::WriteDraft {
            owner: dept("GZ-RS"),
        };
        assert_eq!(
            decide(&other, &write, Some(&draft)),
            Err(GovernanceError::NotOwner)
        );
        assert_eq!(decide(&other, &write, None), Err(GovernanceError::NotOwner));
        assert_eq!(
            decide(
                &rs(),
                &Step::WriteDraft {
                    owner: dept("GZ-JT")
                },
                Some(&draft)
            ),
            Err(GovernanceError::OwnerChange)
        );
        assert!(decide(&centre(), &write, Some(&draft)).is_ok());
        let review = state(1, VersionStatus::Review, None);
        assert_eq!(
            decide(&rs(), &Step::Publish, Some(&review)),
            Err(GovernanceError::CentreOnly("publish"))
        );
        assert_eq!(
            decide(&rs(), &Step::Retire, Some(&review)),
            Err(GovernanceError::CentreOnly("retire"))
        );
    }

    #[test]
    fn publishing_without_review_and_other_out_of_order_steps_are_refused() {
        let draft = state(1, VersionStatus::Draft, None);
        assert_eq!(
            decide(&centre(), &Step::Publish, Some(&draft)),
            Err(GovernanceError::NotInReview)
        );
        assert_eq!(
            decide(&centre(), &Step::Reject, Some(&draft)),
            Err(GovernanceError::NotInReview)
        );
        let review = state(1, VersionStatus::Review, None);
        assert_eq!(
            decide(&rs(), &Step::Submit, Some(&review)),
            Err(GovernanceError::NoDraft)
        );
        assert_eq!(
            decide(&centre(), &Step::Retire, Some(&review)),
            Err(GovernanceError::NotPublished)
        );
        assert_eq!(
            decide(&centre(), &Step::Submit, None),
            Err(GovernanceError::NotFound)
        );
        let rejected = state(1, VersionStatus::Rejected, None);
        assert_eq!(
            decide(
                &rs(),
                &Step::WriteDraft {
                    owner: dept("GZ-RS")
                },
                Some(&rejected)
            ),
            Ok(Outcome::NewDraft {
                version: 2,
                new_item: false
            })
        );
    }
}
