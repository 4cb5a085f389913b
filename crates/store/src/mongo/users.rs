use async_trait::async_trait;
use mongodb::bson::doc;
use orderflow_core::ports::{StoreError, UserRecord, UserStore};
use orderflow_core::{PasswordHash, User, UserId};

use super::documents::{UserDoc, date};
use super::{MongoStore, is_duplicate_key, unavailable};

#[async_trait]
impl UserStore for MongoStore {
    async fn insert_user(&self, record: &UserRecord) -> Result<bool, StoreError> {
        let user = &record.user;
        let document = UserDoc {
            id: user.id.to_string(),
            name: user.name.as_str().to_owned(),
            email: user.email.as_str().to_owned(),
            email_normalized: user.email.normalized().to_owned(),
            password_hash: record.password_hash.as_phc().to_owned(),
            created_at: date(user.created_at),
        };
        match self.users.insert_one(document).await {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn user_by_email(
        &self,
        normalized_email: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let found = self
            .users
            .find_one(doc! { "emailNormalized": normalized_email })
            .await
            .map_err(unavailable)?;
        found
            .map(|d| {
                Ok(UserRecord {
                    user: d.user()?,
                    password_hash: PasswordHash::from_phc(d.password_hash),
                })
            })
            .transpose()
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.users
            .find_one(doc! { "_id": id.to_string() })
            .await
            .map_err(unavailable)?
            .map(|d| d.user())
            .transpose()
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        current: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StoreError> {
        let result = self
            .users
            .update_one(
                doc! { "_id": id.to_string(), "passwordHash": current.as_phc() },
                doc! { "$set": { "passwordHash": new.as_phc() } },
            )
            .await
            .map_err(unavailable)?;
        Ok(result.modified_count == 1)
    }
}
