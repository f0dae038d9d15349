//! TEMPORARY (lead's local stand-in until the report branch merges; never committed).
use super::osv::Advisory;
use super::packages::Inventory;
use super::version::Ecosystem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vulnerability {
    pub id: String,
}
pub fn lookups(_inventory: &Inventory) -> Vec<(Ecosystem, BTreeSet<String>)> {
    Vec::new()
}
pub fn match_inventory(_inventory: &Inventory, _advisories: &[Advisory]) -> Vec<Vulnerability> {
    Vec::new()
}
pub fn report(
    _s: super::cyclonedx::Subject,
    _i: &Inventory,
    _v: &[Vulnerability],
    _serial: [u8; 16],
    _t: chrono::DateTime<chrono::Utc>,
) -> serde_json::Value {
    serde_json::json!({})
}
