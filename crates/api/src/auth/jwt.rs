use std::fmt;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use orderflow_core::UserId;
use orderflow_core::ports::{AccessTokens, CredentialError, IssuedAccessToken};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// An HS256 signing secret: at least 32 bytes, never printed.
#[derive(Clone)]
pub struct JwtSecret(Vec<u8>);

#[derive(Debug, thiserror::Error)]
#[error(
    "must be at least {min} bytes long (got {got}); generate one with `openssl rand -base64 48`"
)]
pub struct JwtSecretError {
    pub min: usize,
    pub got: usize,
}

impl JwtSecret {
    pub const MIN_BYTES: usize = 32;

    pub fn new(bytes: Vec<u8>) -> Result<Self, JwtSecretError> {
        if bytes.len() < Self::MIN_BYTES {
            return Err(JwtSecretError {
                min: Self::MIN_BYTES,
                got: bytes.len(),
            });
        }
        Ok(Self(bytes))
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(***)")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
}

/// HS256 access tokens carrying `sub`, `exp`, `iat`, `nbf` and `jti`.
pub struct JwtAccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    /// Tokens already verified, with their subject and expiry: a client sends the same token
    /// with every request for its lifetime, and decoding and checking the signature each
    /// time was a tenth of a cached read. Only a byte-identical token hits, and its expiry
    /// is still checked on every use, the only time bound it needs. quick_cache with its
    /// default `custom-hasher` feature: a hit is a shared lock and a fast non-cryptographic
    /// hash of the whole token, where SipHash's resistance would buy nothing for a bounded
    /// cache.
    verified: quick_cache::sync::Cache<String, (UserId, i64)>,
}

/// Most verified tokens remembered (about 100 bytes each).
const VERIFIED_TOKENS: usize = 50_000;

impl JwtAccessTokens {
    pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

    pub fn new(secret: &JwtSecret, ttl: Duration) -> Self {
        // Only HS256 is accepted: `alg: none` and algorithm-confusion tokens fail here.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub", "iat", "nbf"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(&secret.0),
            decoding: DecodingKey::from_secret(&secret.0),
            validation,
            ttl,
            verified: quick_cache::sync::Cache::new(VERIFIED_TOKENS),
        }
    }
}

impl AccessTokens for JwtAccessTokens {
    fn issue(
        &self,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<IssuedAccessToken, CredentialError> {
        let iat = now.unix_timestamp();
        let ttl = self.ttl.as_secs();
        let claims = Claims {
            sub: user_id.to_string(),
            exp: iat + ttl as i64,
            iat,
            nbf: iat,
            jti: Uuid::now_v7().to_string(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| CredentialError::Internal(e.to_string()))?;
        Ok(IssuedAccessToken {
            token,
            expires_in_seconds: ttl,
        })
    }

    fn verify(&self, token: &str) -> Result<UserId, CredentialError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let leeway = i64::try_from(self.validation.leeway).unwrap_or(i64::MAX);
        if let Some((user_id, exp)) = self.verified.get(token) {
            if now <= exp.saturating_add(leeway) {
                return Ok(user_id);
            }
            self.verified.remove(token);
            return Err(CredentialError::InvalidToken);
        }
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| CredentialError::InvalidToken)?;
        let user_id = UserId::parse(&data.claims.sub).map_err(|_| CredentialError::InvalidToken)?;
        self.verified
            .insert(token.to_owned(), (user_id, data.claims.exp));
        Ok(user_id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tokens() -> JwtAccessTokens {
        let secret = JwtSecret::new(vec![7; 32]).unwrap();
        JwtAccessTokens::new(&secret, JwtAccessTokens::DEFAULT_TTL)
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let tokens = tokens();
        let user = UserId::parse("0193a000-0000-7000-8000-000000000001").unwrap();
        let issued = tokens.issue(user, OffsetDateTime::now_utc()).unwrap();
        assert_eq!(tokens.verify(&issued.token).unwrap(), user);
        assert_eq!(tokens.verify(&issued.token).unwrap(), user, "from memory");

        // The same token, remembered with an expiry past the leeway, is refused.
        let past = OffsetDateTime::now_utc().unix_timestamp() - 60;
        tokens.verified.insert(issued.token.clone(), (user, past));
        assert!(matches!(
            tokens.verify(&issued.token),
            Err(CredentialError::InvalidToken)
        ));
        assert!(tokens.verified.get(&issued.token).is_none(), "forgotten");
    }

    #[test]
    fn only_the_exact_token_is_remembered() {
        let tokens = tokens();
        let user = UserId::parse("0193a000-0000-7000-8000-000000000001").unwrap();
        let issued = tokens.issue(user, OffsetDateTime::now_utc()).unwrap();
        tokens.verify(&issued.token).unwrap();
        // Another claims segment under the remembered token's signature.
        let parts: Vec<&str> = issued.token.split('.').collect();
        let other = tokens.issue(user, OffsetDateTime::now_utc() + Duration::from_secs(60));
        let other = other.unwrap().token;
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap(),
            parts[2]
        );
        assert!(tokens.verify(&forged).is_err());
    }
}
