use async_trait::async_trait;
use mongodb::bson::doc;
use orderflow_core::ports::{NewRefreshToken, RefreshTokenStore, Rotation, StoreError};
use orderflow_core::{TokenFamilyId, TokenHash, UserId};
use time::OffsetDateTime;

use super::documents::{RefreshTokenDoc, date};
use super::{MongoStore, unavailable};

fn corrupt(what: &str, e: String) -> mongodb::error::Error {
    mongodb::error::Error::custom(format!("stored {what} is invalid: {e}"))
}

#[async_trait]
impl RefreshTokenStore for MongoStore {
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<(), StoreError> {
        let document = RefreshTokenDoc {
            hash: token.hash.as_str().to_owned(),
            family_id: token.family.to_string(),
            user_id: token.user_id.to_string(),
            issued_at: date(token.issued_at),
            expires_at: date(token.expires_at),
            rotated_at: None,
            revoked_at: None,
        };
        self.tokens
            .insert_one(document)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &TokenHash,
        next_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        let (now, next_expires_at) = (date(now), date(next_expires_at));
        transaction!(self, |session| {
            let Some(stored) = self
                .tokens
                .find_one(doc! { "_id": presented.as_str() })
                .session(&mut session)
                .await?
            else {
                return Ok(Tx::Abort(Rotation::Rejected));
            };
            let family =
                TokenFamilyId::parse(&stored.family_id).map_err(|e| corrupt("family", e))?;
            if stored.revoked_at.is_some() {
                return Ok(Tx::Abort(Rotation::Rejected));
            }
            if stored.rotated_at.is_some() {
                self.tokens
                    .update_many(
                        doc! { "familyId": &stored.family_id, "revokedAt": null },
                        doc! { "$set": { "revokedAt": now } },
                    )
                    .session(&mut session)
                    .await?;
                return Ok(Tx::Commit(Rotation::Reused { family }));
            }
            if stored.expires_at <= now {
                return Ok(Tx::Abort(Rotation::Rejected));
            }
            let user_id = UserId::parse(&stored.user_id).map_err(|e| corrupt("user id", e))?;
            self.tokens
                .update_one(
                    doc! { "_id": presented.as_str() },
                    doc! { "$set": { "rotatedAt": now } },
                )
                .session(&mut session)
                .await?;
            let successor = RefreshTokenDoc {
                hash: next.as_str().to_owned(),
                family_id: stored.family_id.clone(),
                user_id: stored.user_id.clone(),
                issued_at: now,
                expires_at: next_expires_at,
                rotated_at: None,
                revoked_at: None,
            };
            self.tokens
                .insert_one(successor)
                .session(&mut session)
                .await?;
            Ok(Tx::Commit(Rotation::Rotated { user_id, family }))
        })
    }

    async fn revoke_token_family(
        &self,
        presented: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let Some(stored) = self
            .tokens
            .find_one(doc! { "_id": presented.as_str() })
            .await
            .map_err(unavailable)?
        else {
            return Ok(false);
        };
        self.tokens
            .update_many(
                doc! { "familyId": &stored.family_id, "revokedAt": null },
                doc! { "$set": { "revokedAt": date(now) } },
            )
            .await
            .map_err(unavailable)?;
        Ok(true)
    }
}
