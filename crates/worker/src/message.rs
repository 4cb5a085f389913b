use orderflow_core::OrderId;
use serde::{Deserialize, Serialize};

/// The message attribute naming the order (readable without parsing the body).
pub const ORDER_ID_ATTRIBUTE: &str = "orderId";

/// The queue message of a placed order (the outbox payload).
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
