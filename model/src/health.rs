//! The health report served at `/health` and `/api/health`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The state of one part of the server (the database, later the gateway and the bus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartStatus {
    /// Working.
    Up,
    /// Not working; the report's `detail` says what is wrong in words safe to show anyone.
    Down,
}

/// One part's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartHealth {
    /// Whether the part works.
    pub status: PartStatus,
    /// A short, public explanation when the part is down (never an internal error message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl PartHealth {
    /// A working part.
    pub fn up() -> Self {
        Self {
            status: PartStatus::Up,
            detail: None,
        }
    }

    /// A failing part, with a public explanation.
    pub fn down(detail: impl Into<String>) -> Self {
        Self {
            status: PartStatus::Down,
            detail: Some(detail.into()),
        }
    }
}

/// The whole report: `status` is `up` only when every part is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// The overall state.
    pub status: PartStatus,
    /// The server's version (the workspace version).
    pub version: String,
    /// Each part by name (`database`, ...), in a stable order.
    pub parts: BTreeMap<String, PartHealth>,
}

impl HealthReport {
    /// Builds a report whose overall status follows from its parts.
    pub fn new(version: impl Into<String>, parts: BTreeMap<String, PartHealth>) -> Self {
        let status = if parts.values().all(|part| part.status == PartStatus::Up) {
            PartStatus::Up
        } else {
            PartStatus::Down
        };
        Self {
            status,
            version: version.into(),
            parts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_part_down_makes_the_report_down() {
        let parts = BTreeMap::from([
            ("database".to_owned(), PartHealth::up()),
            ("bus".to_owned(), PartHealth::down("not connected")),
        ]);
        assert_eq!(HealthReport::new("1", parts).status, PartStatus::Down);
    }

    #[test]
    fn report_serialises_with_snake_case_statuses_and_no_empty_detail() {
        let parts = BTreeMap::from([("database".to_owned(), PartHealth::up())]);
        let json = serde_json::to_value(HealthReport::new("0.1.0", parts)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "up", "version": "0.1.0", "parts": {"database": {"status": "up"}}})
        );
    }
}
