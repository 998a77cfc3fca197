//! Deciding where a ticket goes. Pure: the same ticket and catalogue always give the same
//! decision, which is what makes routing testable and auditable.

use hotline_domain::DeptCode;
use hotline_domain::contract::TicketView;

use crate::catalogue::{Entry, Scope};
use crate::gazetteer::{Found, Gazetteer};

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send it now (秒派).
    Dispatch {
        lead: DeptCode,
        co: Vec<DeptCode>,
        reason: String,
    },
    /// No confident route: an operator decides.
    Manual { reason: String },
}

pub fn route(ticket: &TicketView, entry: Option<&Entry>, gazetteer: &Gazetteer) -> Decision {
    let Some(code) = &ticket.service_code else {
        return Decision::Manual {
            reason: "no matter code: needs classification".into(),
        };
    };
    let Some(entry) = entry else {
        return Decision::Manual {
            reason: format!("matter {code} is not in the catalogue"),
        };
    };
    match &entry.scope {
        Scope::City { department } => Decision::Dispatch {
            lead: department.clone(),
            co: entry
                .co_handlers
                .iter()
                .filter(|c| *c != department)
                .cloned()
                .collect(),
            reason: format!("catalogue {code} v{}: city-wide", entry.version),
        },
        Scope::District => match gazetteer.locate(&ticket.location) {
            Some(found) => {
                let how = match &found {
                    Found::ByName(_) => "address names the district".to_owned(),
                    Found::ByPosition(_, km) => {
                        format!("coordinates {km:.1} km from the district centre")
                    }
                };
                let lead = found.district().clone();
                Decision::Dispatch {
                    co: entry
                        .co_handlers
                        .iter()
                        .filter(|c| **c != lead)
                        .cloned()
                        .collect(),
                    lead,
                    reason: format!(
                        "catalogue {code} v{}: district matter, {how}",
                        entry.version
                    ),
                }
            }
            None => Decision::Manual {
                reason: format!(
                    "matter {code} is handled by districts, but the address gives no district"
                ),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use hotline_domain::contract::Location;
    use hotline_domain::{Channel, Directory, RequestType, ServiceCode, Status, TicketNo};

    use super::*;

    fn ticket(code: Option<&str>, address: Option<&str>) -> TicketView {
        TicketView {
            ticket_no: TicketNo::compose(261129, 1).expect("no"),
            status: Status::Received,
            channel: Channel::Web,
            request_type: RequestType::Complaint,
            service_code: code.map(|c| ServiceCode::parse(c).expect("code")),
            description: "d".into(),
            location: Location {
                address: address.map(str::to_owned),
                ..Location::default()
            },
            citizen: Default::default(),
            confidential: false,
            lead: None,
            co: vec![],
            attributes: Default::default(),
            media_url: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            held: false,
            extension_pending: false,
        }
    }

    #[test]
    fn city_matters_go_to_their_department_and_district_matters_follow_the_address() {
        let entries = crate::catalogue::demo_entries().expect("demo");
        let g = Gazetteer::demo(&Directory::demo());
        let district_entry = entries
            .iter()
            .find(|e| e.scope == Scope::District)
            .expect("a district matter");
        let city_entry = entries
            .iter()
            .find(|e| e.scope != Scope::District)
            .expect("a city matter");

        let d = route(
            &ticket(Some(district_entry.code.as_str()), Some("海珠区滨江路")),
            Some(district_entry),
            &g,
        );
        assert!(
            matches!(d, Decision::Dispatch { ref lead, .. } if lead.as_str() == "GZ-HZ"),
            "{d:?}"
        );
        let d = route(
            &ticket(Some(district_entry.code.as_str()), Some("no idea")),
            Some(district_entry),
            &g,
        );
        assert!(matches!(d, Decision::Manual { .. }));
        let d = route(
            &ticket(Some(city_entry.code.as_str()), None),
            Some(city_entry),
            &g,
        );
        assert!(matches!(d, Decision::Dispatch { .. }));
        assert!(matches!(
            route(&ticket(None, None), None, &g),
            Decision::Manual { .. }
        ));
        assert!(matches!(
            route(&ticket(Some("99.99.999"), None), None, &g),
            Decision::Manual { .. }
        ));
    }
}
