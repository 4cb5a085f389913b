use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{Password, PasswordHash, UserId};

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Missing, malformed, expired, not yet valid, or not signed by us.
    #[error("the access token is not valid")]
    InvalidToken,
    /// Hashing or signing could not be done (a bug or resource exhaustion, not user input).
    #[error("credential operation failed: {0}")]
    Internal(String),
}

/// Slow, salted password hashing.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: Password) -> Result<PasswordHash, CredentialError>;
    /// With `None`, checks against a dummy hash, so an unknown email costs as long as a
    /// wrong password and logins do not reveal which emails exist.
    async fn verify(
        &self,
        password: Password,
        hash: Option<PasswordHash>,
    ) -> Result<bool, CredentialError>;
    /// Whether `hash` was made with other parameters than new hashes get, so a login that
    /// verified it should store a new one.
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;
}

#[derive(Debug, Clone)]
pub struct IssuedAccessToken {
    pub token: String,
    pub expires_in_seconds: u64,
}

/// Short-lived signed access tokens.
pub trait AccessTokens: Send + Sync {
    fn issue(
        &self,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<IssuedAccessToken, CredentialError>;
    fn verify(&self, token: &str) -> Result<UserId, CredentialError>;
}
