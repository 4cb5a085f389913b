use serde::{Deserialize, Serialize};

use super::OrderId;

/// The queue message of a placed order: the outbox payload the stores write in the
/// placement's transaction and the body the worker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderMessage {
    pub order_id: OrderId,
}

impl OrderMessage {
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }

    pub fn to_body(&self) -> String {
        serde_json::json!({ "orderId": self.order_id }).to_string()
    }
}
