//! The hotline's domain: the words every service shares.
//!
//! - [`ids`]: identifiers parsed once at the edge (ticket numbers, department codes, service codes,
//!   phone numbers).
//! - [`ticket`]: the ticket (工单) and its closed-loop state machine (docs/architecture.md), the only
//!   place that decides which step may follow which.
//! - [`department`]: departments and their hierarchy (city, district > street > community,
//!   utilities), parsed whole from a city's directory file (二级派单 walks it).
//! - [`contract`]: commands sent to the ticket ledger and the events it publishes; versioned serde
//!   JSON shared by every service.
//! - [`mask`]: masking of personal data for logs and for departments that must not see it.
//! - [`text`]: which characters text from outside may hold (no NUL or other controls), checked
//!   once at every edge.
#![forbid(unsafe_code)]

pub mod contract;
pub mod department;
pub mod ids;
pub mod mask;
pub mod text;
pub mod ticket;

pub use department::{Department, DepartmentLevel, Directory, DirectoryError};
pub use ids::{DeptCode, IdError, ItemCode, PhoneNumber, ServiceCode, TicketNo};
pub use text::TextError;
pub use ticket::{Action, Actor, Channel, RequestType, Ruling, Status, Ticket, TransitionError};
