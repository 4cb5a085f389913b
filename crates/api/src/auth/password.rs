use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use async_trait::async_trait;
use orderflow_core::ports::{CredentialError, PasswordHasher};
use orderflow_core::{Password, PasswordHash};
use tokio::sync::Semaphore;

/// Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane). Each hash takes tens of
/// milliseconds of CPU, so hashing runs on the blocking pool, at most `concurrency` at a time:
/// a login flood queues instead of starving every other request.
pub struct Argon2Hasher {
    permits: Arc<Semaphore>,
    dummy_hash: PasswordHash,
}

fn argon2() -> Result<Argon2<'static>, CredentialError> {
    let params =
        Params::new(19_456, 2, 1, None).map_err(|e| CredentialError::Internal(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &[u8]) -> Result<PasswordHash, CredentialError> {
    let phc = argon2()?
        .hash_password(password)
        .map_err(|e| CredentialError::Internal(e.to_string()))?;
    Ok(PasswordHash::from_phc(phc.to_string()))
}

impl Argon2Hasher {
    pub fn new(concurrency: usize) -> Result<Self, CredentialError> {
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: hash_blocking(b"an unguessable placeholder password")?,
        })
    }

    async fn on_pool<T, F>(&self, work: F) -> Result<T, CredentialError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, CredentialError> + Send + 'static,
    {
        let _permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| CredentialError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| CredentialError::Internal(e.to_string()))?
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: Password) -> Result<PasswordHash, CredentialError> {
        self.on_pool(move || hash_blocking(password.expose().as_bytes()))
            .await
    }

    async fn verify(
        &self,
        password: Password,
        hash: Option<PasswordHash>,
    ) -> Result<bool, CredentialError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let matched = self
            .on_pool(move || {
                Ok(argon2()?
                    .verify_password(password.expose().as_bytes(), hash.as_phc())
                    .is_ok())
            })
            .await?;
        Ok(known && matched)
    }
}
