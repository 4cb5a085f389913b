use sha2::{Digest, Sha256};

use super::OrderRequest;

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(format!("must be 1 to {} characters", Self::MAX_LEN));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be visible ASCII characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A digest of what a request asked for, so a key reused with a different request is caught.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFingerprint(String);

impl RequestFingerprint {
    pub fn of_order_request(request: &OrderRequest) -> Self {
        let mut hasher = Sha256::new();
        for line in &request.lines {
            hasher.update(line.product_id.as_str().as_bytes());
            hasher.update([0]);
            hasher.update(line.quantity.get().to_be_bytes());
        }
        match request.expected_total {
            Some(total) => {
                hasher.update([1]);
                hasher.update(total.to_be_bytes());
            }
            None => hasher.update([0]),
        }
        Self(hex(&hasher.finalize()))
    }

    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert!(IdempotencyKey::parse("order-2026-11-22-0001").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn fingerprints_follow_the_request_not_its_spelling() {
        let a = OrderRequest::parse(&[("x".into(), 1), ("x".into(), 1)], None).expect("valid");
        let b = OrderRequest::parse(&[("x".into(), 2)], None).expect("valid");
        let c = OrderRequest::parse(&[("x".into(), 2)], Some(10)).expect("valid");
        assert_eq!(
            RequestFingerprint::of_order_request(&a),
            RequestFingerprint::of_order_request(&b)
        );
        assert_ne!(
            RequestFingerprint::of_order_request(&b),
            RequestFingerprint::of_order_request(&c)
        );
    }
}
