use async_trait::async_trait;
use orderflow_core::ports::{NewRefreshToken, RefreshTokenStore, Rotation, StoreError};
use orderflow_core::{TokenFamilyId, TokenHash, UserId};
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::SqliteStore;
use super::connections::Outcome;
use super::rows::{millis, parsed};

struct StoredToken {
    family: TokenFamilyId,
    user_id: UserId,
    expires_at: i64,
    rotated: bool,
    revoked: bool,
}

#[async_trait]
impl RefreshTokenStore for SqliteStore {
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<(), StoreError> {
        let token = token.clone();
        self.db
            .write(move |tx| {
                tx.prepare_cached(
                    "INSERT INTO refresh_tokens (hash, family_id, user_id, issued_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    token.hash.as_str(),
                    token.family.to_string(),
                    token.user_id.to_string(),
                    millis(token.issued_at),
                    millis(token.expires_at)
                ])?;
                Ok(Outcome::Commit(()))
            })
            .await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &TokenHash,
        next_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        let presented = presented.as_str().to_owned();
        let next = next.as_str().to_owned();
        let (now, next_expires_at) = (millis(now), millis(next_expires_at));
        self.db
            .write(move |tx| {
                let Some(stored) = stored_token(tx, &presented)? else {
                    return Ok(Outcome::Rollback(Rotation::Rejected));
                };
                if stored.revoked {
                    return Ok(Outcome::Rollback(Rotation::Rejected));
                }
                if stored.rotated {
                    revoke_family(tx, stored.family, now)?;
                    return Ok(Outcome::Commit(Rotation::Reused {
                        family: stored.family,
                    }));
                }
                if stored.expires_at <= now {
                    return Ok(Outcome::Rollback(Rotation::Rejected));
                }
                tx.prepare_cached("UPDATE refresh_tokens SET rotated_at = ?2 WHERE hash = ?1")?
                    .execute(params![presented, now])?;
                tx.prepare_cached(
                    "INSERT INTO refresh_tokens (hash, family_id, user_id, issued_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    next,
                    stored.family.to_string(),
                    stored.user_id.to_string(),
                    now,
                    next_expires_at
                ])?;
                Ok(Outcome::Commit(Rotation::Rotated {
                    user_id: stored.user_id,
                    family: stored.family,
                }))
            })
            .await
    }

    async fn revoke_token_family(
        &self,
        presented: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let presented = presented.as_str().to_owned();
        let now = millis(now);
        self.db
            .write(move |tx| match stored_token(tx, &presented)? {
                Some(stored) => {
                    revoke_family(tx, stored.family, now)?;
                    Ok(Outcome::Commit(true))
                }
                None => Ok(Outcome::Rollback(false)),
            })
            .await
    }
}

fn stored_token(
    tx: &rusqlite::Connection,
    hash: &str,
) -> Result<Option<StoredToken>, rusqlite::Error> {
    tx.prepare_cached(
        "SELECT family_id, user_id, expires_at, rotated_at IS NOT NULL, revoked_at IS NOT NULL
         FROM refresh_tokens WHERE hash = ?1",
    )?
    .query_row([hash], |row| {
        Ok(StoredToken {
            family: parsed(row, 0, TokenFamilyId::parse)?,
            user_id: parsed(row, 1, UserId::parse)?,
            expires_at: row.get(2)?,
            rotated: row.get(3)?,
            revoked: row.get(4)?,
        })
    })
    .optional()
}

fn revoke_family(
    tx: &rusqlite::Connection,
    family: TokenFamilyId,
    now: i64,
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
    )?
    .execute(params![family.to_string(), now])?;
    Ok(())
}
