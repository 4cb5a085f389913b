//! Credential adapters: Argon2id password hashing and HS256 JWT access tokens.
mod jwt;
mod password;

pub use jwt::{JwtAccessTokens, JwtSecret, JwtSecretError};
pub use password::Argon2Hasher;
