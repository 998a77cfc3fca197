//! 社情民意 hotspots: how many tickets each matter class (the first part of the service code,
//! `LL` of `LL.MM.NNN`) had in each district over a period, counted in the database.
//!
//! The district is decided once, when the ledger stores a new ticket ([`Districts::of`]: the
//! first district of the directory whose name the address holds) and kept in
//! `tickets.ticket.district`, so a count over 100,000 tickets is one scan of a covering index
//! (`ticket_created_counts`) and not a text search of every address on every read. Tickets
//! without a district name in their address (or stored before the column existed) count under
//! the empty district.

use chrono::{DateTime, Utc};
use hotline_domain::Directory;
use serde::Serialize;
use sqlx::{PgPool, Row as _};

/// What the names of a district government are stripped of to find the place's name.
const OFFICE_SUFFIXES: [&str; 3] = ["人民政府", "管委会", "管理委员会"];

/// The directory's districts and the names an address may call each by.
#[derive(Debug, Clone, Default)]
pub struct Districts {
    /// (name, code), longest name first so "海珠区" wins over a shorter name it contains.
    names: Vec<(String, String)>,
}

impl Districts {
    pub fn from_directory(directory: &Directory) -> Districts {
        let mut names = Vec::new();
        for dept in directory.districts() {
            let mut place = dept.name.as_str();
            for suffix in OFFICE_SUFFIXES {
                place = place.strip_suffix(suffix).unwrap_or(place);
            }
            let code = dept.code.as_str().to_owned();
            names.push((place.to_owned(), code.clone()));
            // "天河区" is often written "天河"; "海湾新区" is not "海湾新".
            if let Some(short) = place.strip_suffix(['区', '县'])
                && short.chars().count() >= 2
                && !place.ends_with("新区")
            {
                names.push((short.to_owned(), code.clone()));
            }
            let en = dept
                .name_en
                .trim_end_matches(" District")
                .trim_end_matches(" County");
            names.push((en.to_owned(), code));
        }
        // An empty name would be found in every address.
        names.retain(|(n, _)| !n.trim().is_empty());
        names.sort_by_key(|(n, _)| std::cmp::Reverse(n.chars().count()));
        Districts { names }
    }

    /// The district whose name the address holds (the longest name found).
    pub fn of(&self, address: &str) -> Option<&str> {
        self.names
            .iter()
            .find(|(name, _)| address.contains(name.as_str()))
            .map(|(_, code)| code.as_str())
    }
}

/// One cell of the hotspot table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Cell {
    /// The matter's class (`LL` of the service code); empty for tickets without a matter.
    pub class: String,
    /// The district's department code; empty when the address named none.
    pub district: String,
    pub count: i64,
}

/// A count of tickets by one key (a channel, a department).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Count {
    pub key: String,
    pub count: i64,
}

// The supervisor's counts over a period ($1, $2). By channel and by class x district read
// `ticket_created_counts` alone (an index-only scan over the period's entries; test:
// tests/plans.rs), not the table's wide rows; the backlog reads the open tickets' indexes.

/// Tickets created in the period by channel.
pub const BY_CHANNEL_SQL: &str = "SELECT channel AS key, count(*) AS n FROM tickets.ticket \
     WHERE created_at >= $1 AND created_at < $2 GROUP BY 1 ORDER BY 2 DESC, 1";

/// Tickets created in the period and still with a department, by lead department.
pub const BACKLOG_SQL: &str = "SELECT COALESCE(lead, '') AS key, count(*) AS n FROM tickets.ticket \
     WHERE status IN ('dispatched','returned','accepted','in_progress','awaiting_citizen','reopened') \
     AND created_at >= $1 AND created_at < $2 GROUP BY 1 ORDER BY 2 DESC, 1";

/// Tickets created in the period by matter class and district.
pub const COUNT_SQL: &str = "SELECT split_part(COALESCE(service_code, ''), '.', 1) AS class, \
     COALESCE(district, '') AS district, count(*) AS n FROM tickets.ticket \
     WHERE created_at >= $1 AND created_at < $2 GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2";

/// Tickets created in `[from, to)` counted by channel (the supervisor's board: contacts today).
pub async fn by_channel(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<Count>> {
    let rows = sqlx::query(BY_CHANNEL_SQL)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?;
    counts(&rows)
}

/// Tickets created in `[from, to)` and still with a department (dispatched to it, accepted,
/// being worked on, waiting for the citizen, returned), counted by their lead department: the
/// departments' backlog.
pub async fn backlog(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<Count>> {
    let rows = sqlx::query(BACKLOG_SQL)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?;
    counts(&rows)
}

fn counts(rows: &[sqlx::postgres::PgRow]) -> anyhow::Result<Vec<Count>> {
    rows.iter()
        .map(|r| {
            Ok(Count {
                key: r.try_get("key")?,
                count: r.try_get("n")?,
            })
        })
        .collect()
}

/// Tickets created in `[from, to)`, counted by class and district.
pub async fn count(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<Cell>> {
    let rows = sqlx::query(COUNT_SQL)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Cell {
                class: r.try_get("class")?,
                district: r.try_get("district")?,
                count: r.try_get("n")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_placed_in_the_district_it_names() {
        let d = Districts::from_directory(&Directory::demo());
        assert_eq!(d.of("广州市天河区天河路208号"), Some("GZ-TH"));
        assert_eq!(d.of("海珠区江南大道中"), Some("GZ-HZ"));
        assert_eq!(d.of("番禺市桥街"), Some("GZ-PY"), "the short name");
        assert_eq!(d.of("12 Tianhe Road"), Some("GZ-TH"), "the English name");
        assert_eq!(d.of("广州市某路1号"), None);
        assert_eq!(d.of(""), None);
    }
}
