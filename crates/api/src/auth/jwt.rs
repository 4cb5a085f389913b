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
}

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
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| CredentialError::InvalidToken)?;
        UserId::parse(&data.claims.sub).map_err(|_| CredentialError::InvalidToken)
    }
}
