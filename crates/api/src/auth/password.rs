use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use async_trait::async_trait;
use orderflow_core::ports::{CredentialError, PasswordHasher};
use orderflow_core::{Password, PasswordHash};

/// Argon2id with one of OWASP's equivalent parameter sets (12 MiB, 3 passes, 1 lane). Each
/// hash takes tens of milliseconds of CPU and its 12 MiB, so hashing runs on threads of its
/// own, `concurrency` of them: a login flood queues instead of starving every other request,
/// and the hashes' memory stays with those few threads instead of every blocking thread.
pub struct Argon2Hasher {
    pool: rayon_core::ThreadPool,
    dummy_hash: PasswordHash,
}

/// Verified in place of a real hash when the email is unknown, so that costs as much as a
/// wrong password. A hash of a random password nobody kept, made with [`argon2`]'s
/// parameters (a test holds them together); a constant, so start-up spends no time or
/// memory on making one.
const DUMMY_HASH: &str = "$argon2id$v=19$m=12288,t=3,p=1$hXL+3BHhM7Jgh3tEHTYdUA$UgM7YtBYV4w/R6I2WMkV+euymzVlm7jQUxl3OvfUTe0";

fn argon2() -> Result<Argon2<'static>, CredentialError> {
    let params =
        Params::new(12_288, 3, 1, None).map_err(|e| CredentialError::Internal(e.to_string()))?;
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
        let pool = rayon_core::ThreadPoolBuilder::new()
            .num_threads(concurrency.max(1))
            .thread_name(|index| format!("argon2-{index}"))
            .build()
            .map_err(|e| CredentialError::Internal(e.to_string()))?;
        Ok(Self {
            pool,
            dummy_hash: PasswordHash::from_phc(DUMMY_HASH.to_owned()),
        })
    }

    async fn on_pool<T, F>(&self, work: F) -> Result<T, CredentialError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, CredentialError> + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            // The caller may have gone (its request was cancelled); nothing waits then.
            let _ = done.send(work());
        });
        result
            .await
            .map_err(|e| CredentialError::Internal(format!("the hashing thread stopped: {e}")))?
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// `$argon2id$v=19$m=...,t=...,p=...$`: algorithm, version and cost, without the salt
    /// and hash.
    fn cost_of(phc: &str) -> String {
        phc.split('$').take(4).collect::<Vec<_>>().join("$")
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let real = hash_blocking(b"a real password").unwrap();
        assert_eq!(cost_of(DUMMY_HASH), cost_of(real.as_phc()));
    }

    #[tokio::test]
    async fn an_unknown_email_never_matches() {
        let hasher = Argon2Hasher::new(1).unwrap();
        let password = Password::parse("a real password").unwrap();
        assert!(!hasher.verify(password, None).await.unwrap());
    }
}
