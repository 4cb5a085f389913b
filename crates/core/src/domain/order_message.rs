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

    /// The body, by the same derive that [`Self::parse`] reads it with.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("one id in a struct always encodes as JSON")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_body_names_the_order_and_reads_back() {
        let id = OrderId::parse("01a249c8-6e94-7563-8fd0-382f97a53ba9").unwrap();
        let message = OrderMessage { order_id: id };
        // Messages already queued by earlier versions carry exactly this body.
        assert_eq!(
            message.to_body(),
            r#"{"orderId":"01a249c8-6e94-7563-8fd0-382f97a53ba9"}"#
        );
        assert_eq!(OrderMessage::parse(&message.to_body()).unwrap(), message);
    }
}
