use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::idempotency::hex;

/// An opaque refresh token as handed to the client. Only its [`TokenHash`] is ever stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    const BYTES: usize = 32;

    /// 256 random bits from the operating system.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; Self::BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        match URL_SAFE_NO_PAD.decode(raw) {
            Ok(bytes) if bytes.len() == Self::BYTES => Ok(Self(raw.to_owned())),
            _ => Err("is not a refresh token".into()),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(hex(&Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(***)")
    }
}

/// SHA-256 of a refresh token: what the store keeps. The token has 256 bits of entropy, so
/// a fast hash is enough; a stolen database yields no usable token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Every refresh token descended from one login by rotation. Reuse of a rotated token
/// revokes the whole family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenFamilyId(Uuid);

impl TokenFamilyId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Uuid::parse_str(raw)
            .map(Self)
            .map_err(|_| "must be a UUID".to_owned())
    }
}

impl fmt::Display for TokenFamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_parse_back() {
        let a = RefreshToken::generate().expect("os randomness");
        let b = RefreshToken::generate().expect("os randomness");
        assert_ne!(a, b);
        assert_eq!(RefreshToken::parse(a.expose()), Ok(a.clone()));
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash().as_str().len(), 64);
        assert!(RefreshToken::parse("short").is_err());
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
