use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use async_trait::async_trait;
use orderflow_core::ports::{CredentialError, PasswordHasher};
use orderflow_core::{Password, PasswordHash};

/// Argon2id with one of OWASP's equivalent parameter sets (7 MiB, 5 passes, 1 lane). Each
/// hash takes milliseconds of a core and its 7 MiB, so hashing runs on threads of its own, `concurrency` of them: a login flood queues instead of starving every other
/// request, and the hashes' memory stays with those few threads instead of every blocking
/// thread.
///
/// Of OWASP's sets, all of about the same CPU cost, the smallest memory hashes fastest when
/// several run at once: less of it competes for the shared cache (login storm,
/// docs/BENCHMARKS.md). Hashes made with the earlier set (12 MiB, 3 passes) still verify, and are replaced at the next
/// login.
pub struct Argon2Hasher {
    pool: rayon_core::ThreadPool,
    dummy_hash: PasswordHash,
}

/// Verified in place of a real hash when the email is unknown, so that costs as much as a
/// wrong password. A hash of a random password nobody kept, made with [`argon2`]'s
/// parameters (a test holds them together); a constant, so start-up spends no time or
/// memory on making one.
const DUMMY_HASH: &str = "$argon2id$v=19$m=7168,t=5,p=1$8kgzJf6ofjUSDLLEE5vC3Q$o/LEzlx2pk9sJNmRAM2cJaGIes9q6SpYqZ/CIOkDyK4";

const MEMORY_KIB: u32 = 7_168;
const PASSES: u32 = 5;
const LANES: u32 = 1;

fn argon2() -> Result<Argon2<'static>, CredentialError> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
        .map_err(|e| CredentialError::Internal(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Whether `phc` is an Argon2id v1.3 hash with today's cost; anything else (older costs,
/// another algorithm) is worth replacing once its password is known.
fn has_current_cost(phc: &str) -> bool {
    let Ok(hash) = argon2::password_hash::phc::PasswordHash::new(phc) else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && (params.m_cost(), params.t_cost(), params.p_cost()) == (MEMORY_KIB, PASSES, LANES)
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

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        !has_current_cost(hash.as_phc())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        assert!(has_current_cost(DUMMY_HASH));
    }

    #[test]
    fn only_hashes_of_other_costs_need_rehashing() {
        let hasher = Argon2Hasher::new(1).unwrap();
        let current = hash_blocking(b"a real password").unwrap();
        assert!(!hasher.needs_rehash(&current));
        for other in [
            orderflow_testkit::fixtures::EARLIER_COST_HASH,
            // Same cost, another variant.
            "$argon2i$v=19$m=7168,t=5,p=1$8kgzJf6ofjUSDLLEE5vC3Q$o/LEzlx2pk9sJNmRAM2cJaGIes9q6SpYqZ/CIOkDyK4",
            "not a hash",
        ] {
            let hash = PasswordHash::from_phc(other.to_owned());
            assert!(hasher.needs_rehash(&hash), "{other}");
        }
    }

    #[tokio::test]
    async fn an_unknown_email_never_matches() {
        let hasher = Argon2Hasher::new(1).unwrap();
        let password = Password::parse("a real password").unwrap();
        assert!(!hasher.verify(password, None).await.unwrap());
    }
}
