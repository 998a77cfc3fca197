//! The questions and what an answer leads to.
//!
//! Two ratings, kept apart as the centre is assessed on both: the case (承办, 一事一评: how the
//! department handled it) and the call (话务, 一次一评: the agent who took the contact). The
//! ledger records one `satisfied` per survey: resolved and the case not rated 不满意.
//!
//! An unsatisfied answer reopens the ticket (重办) to the same lead until the ticket has been
//! reopened `max_reopens` times; after that a supervisor reviews it ([`crate::review`]).

use serde::{Deserialize, Serialize};

/// 满意 / 基本满意 / 不满意.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    Satisfied,
    BasicallySatisfied,
    Dissatisfied,
}

impl Rating {
    pub const ALL: [Rating; 3] = [
        Rating::Satisfied,
        Rating::BasicallySatisfied,
        Rating::Dissatisfied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Satisfied => "satisfied",
            Rating::BasicallySatisfied => "basically_satisfied",
            Rating::Dissatisfied => "dissatisfied",
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            Rating::Satisfied => "满意",
            Rating::BasicallySatisfied => "基本满意",
            Rating::Dissatisfied => "不满意",
        }
    }

    pub fn parse(raw: &str) -> Option<Rating> {
        Rating::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// An IVR keypress: 1 满意, 2 基本满意, 3 不满意.
    pub fn from_key(key: char) -> Option<Rating> {
        match key {
            '1' => Some(Rating::Satisfied),
            '2' => Some(Rating::BasicallySatisfied),
            '3' => Some(Rating::Dissatisfied),
            _ => None,
        }
    }
}

/// How the answer came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The citizen on the survey page.
    Link,
    /// An agent's entry during a callback.
    Agent,
    /// The IVR's keypresses during a callback.
    Ivr,
    /// A message on the citizen's channel (WeChat `满意 <no>`, the app), recorded by the ledger
    /// before this service heard of it.
    Message,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Link => "link",
            Via::Agent => "agent",
            Via::Ivr => "ivr",
            Via::Message => "message",
        }
    }
}

/// One citizen's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Was the problem solved (or, for an answer on the spot, the question answered)?
    pub resolved: bool,
    /// 承办满意度; for an answer on the spot there is no department and it may be absent.
    #[serde(default)]
    pub case_rating: Option<Rating>,
    /// 话务满意度: the agent who took the contact.
    #[serde(default)]
    pub call_rating: Option<Rating>,
    #[serde(default)]
    pub comment: String,
}

/// Why an answer is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("{0}")]
    Invalid(String),
}

/// Longest comment kept.
pub const MAX_COMMENT: usize = 2000;

impl Answer {
    /// What the ledger records: resolved and the case not 不满意.
    pub fn satisfied(&self) -> bool {
        self.resolved && self.case_rating != Some(Rating::Dissatisfied)
    }

    /// The text rule and the length limit; the ratings are typed already.
    pub fn check(&self) -> Result<(), AnswerError> {
        if self.comment.chars().count() > MAX_COMMENT {
            return Err(AnswerError::Invalid(format!(
                "comment: at most {MAX_COMMENT} characters"
            )));
        }
        hotline_domain::text::check("comment", &self.comment)
            .map_err(|e| AnswerError::Invalid(e.to_string()))
    }

    /// The IVR's keypresses: resolved (1 yes, 2 no), then the case rating (1-3), then
    /// optionally the call rating (1-3). `*`/`#` and spaces are ignored.
    pub fn from_keypresses(keys: &str) -> Result<Answer, AnswerError> {
        let digits: Vec<char> = keys.chars().filter(|c| c.is_ascii_digit()).collect();
        let bad = || {
            AnswerError::Invalid(format!(
                "keypresses {keys:?}: resolved (1/2), case (1-3), call (1-3)"
            ))
        };
        if !(2..=3).contains(&digits.len()) {
            return Err(bad());
        }
        let resolved = match digits[0] {
            '1' => true,
            '2' => false,
            _ => return Err(bad()),
        };
        let case_rating = Some(Rating::from_key(digits[1]).ok_or_else(bad)?);
        let call_rating = match digits.get(2) {
            Some(k) => Some(Rating::from_key(*k).ok_or_else(bad)?),
            None => None,
        };
        Ok(Answer {
            resolved,
            case_rating,
            call_rating,
            comment: String::new(),
        })
    }

    /// The ledger's note: the answer in words, for the history agents and departments read.
    pub fn note(&self, via: Via) -> String {
        let mut parts = vec![format!(
            "回访（{}）：{}",
            match via {
                Via::Link => "链接",
                Via::Agent => "坐席回访",
                Via::Ivr => "语音按键",
                Via::Message => "消息",
            },
            if self.resolved {
                "已解决"
            } else {
                "未解决"
            }
        )];
        if let Some(r) = self.case_rating {
            parts.push(format!("承办{}", r.chinese()));
        }
        if let Some(r) = self.call_rating {
            parts.push(format!("话务{}", r.chinese()));
        }
        let comment = self.comment.trim();
        if !comment.is_empty() {
            parts.push(format!("意见：{comment}"));
        }
        parts.join("；")
    }
}

/// What follows an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Satisfied: archived.
    Closed,
    /// 重办 to the same lead, supervised.
    Reopened,
    /// Past the reopen limit: a supervisor decides.
    Review,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Closed => "closed",
            Outcome::Reopened => "reopened",
            Outcome::Review => "review",
        }
    }

    /// Satisfied → closed; otherwise reopened while the ticket has been reopened fewer than
    /// `max_reopens` times, else a supervisor's review.
    pub fn of(satisfied: bool, reopens: u32, max_reopens: u32) -> Outcome {
        if satisfied {
            Outcome::Closed
        } else if reopens < max_reopens {
            Outcome::Reopened
        } else {
            Outcome::Review
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfied_means_resolved_and_the_case_not_dissatisfied() {
        let a = |resolved, case| Answer {
            resolved,
            case_rating: case,
            call_rating: Some(Rating::Dissatisfied),
            comment: String::new(),
        };
        assert!(a(true, Some(Rating::Satisfied)).satisfied());
        assert!(a(true, Some(Rating::BasicallySatisfied)).satisfied());
        // The call's rating is the agent's, not the case's.
        assert!(a(true, None).satisfied());
        assert!(!a(true, Some(Rating::Dissatisfied)).satisfied());
        assert!(!a(false, Some(Rating::Satisfied)).satisfied());
    }

    #[test]
    fn keypresses_map_to_an_answer_and_bad_ones_are_refused() {
        let a = Answer::from_keypresses("1#3#2").expect("keys");
        assert_eq!(
            (a.resolved, a.case_rating, a.call_rating),
            (
                true,
                Some(Rating::Dissatisfied),
                Some(Rating::BasicallySatisfied)
            )
        );
        assert!(!a.satisfied());
        assert_eq!(
            Answer::from_keypresses("21").expect("keys").case_rating,
            Some(Rating::Satisfied)
        );
        for bad in ["", "1", "31", "14", "1234", "x"] {
            assert!(Answer::from_keypresses(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unsatisfied_reopens_until_the_limit_then_a_supervisor_reviews() {
        assert_eq!(Outcome::of(true, 5, 2), Outcome::Closed);
        assert_eq!(Outcome::of(false, 0, 2), Outcome::Reopened);
        assert_eq!(Outcome::of(false, 1, 2), Outcome::Reopened);
        assert_eq!(Outcome::of(false, 2, 2), Outcome::Review);
        assert_eq!(Outcome::of(false, 0, 0), Outcome::Review);
    }

    #[test]
    fn comments_are_checked() {
        let mut a = Answer::from_keypresses("11").expect("keys");
        a.comment = "处理及时\u{0007}".into();
        assert!(a.check().is_err());
        a.comment = "处理及时".into();
        assert!(a.check().is_ok());
        assert_eq!(
            a.note(Via::Ivr),
            "回访（语音按键）：已解决；承办满意；意见：处理及时"
        );
    }
}
