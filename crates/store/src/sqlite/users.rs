use async_trait::async_trait;
use orderflow_core::ports::{StoreError, UserRecord, UserStore};
use orderflow_core::{Email, PasswordHash, User, UserId, UserName};
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::connections::Outcome;
use super::rows::{from_millis, millis, parsed};

const USER_COLUMNS: &str = "id, name, email, created_at, password_hash";

fn user(row: &rusqlite::Row<'_>) -> Result<User, rusqlite::Error> {
    Ok(User {
        id: parsed(row, 0, UserId::parse)?,
        name: parsed(row, 1, UserName::parse)?,
        email: parsed(row, 2, Email::parse)?,
        created_at: from_millis(3, row.get(3)?)?,
    })
}

fn user_record(row: &rusqlite::Row<'_>) -> Result<UserRecord, rusqlite::Error> {
    Ok(UserRecord {
        user: user(row)?,
        password_hash: PasswordHash::from_phc(row.get(4)?),
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, record: &UserRecord) -> Result<bool, StoreError> {
        let user = record.user.clone();
        let hash = record.password_hash.as_phc().to_owned();
        self.db
            .write(move |tx| {
                let inserted = tx.prepare_cached("INSERT INTO users (id, name, email, email_normalized, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (email_normalized) DO NOTHING")?.execute(params![
                        user.id.to_string(),
                        user.name.as_str(),
                        user.email.as_str(),
                        user.email.normalized(),
                        hash,
                        millis(user.created_at)
                    ],
                )?;
                Ok(Outcome::Commit(inserted == 1))
            })
            .await
    }

    async fn user_by_email(
        &self,
        normalized_email: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let email = normalized_email.to_owned();
        self.db
            .lookup(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE email_normalized = ?1"
                ))?
                .query_row([email], user_record)
                .optional()
            })
            .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.db
            .lookup(move |conn| {
                conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
                    .query_row([id.to_string()], user)
                    .optional()
            })
            .await
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        current: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StoreError> {
        let (current, new) = (current.as_phc().to_owned(), new.as_phc().to_owned());
        self.db
            .write(move |tx| {
                let replaced = tx
                    .prepare_cached(
                        "UPDATE users SET password_hash = ?3 WHERE id = ?1 AND password_hash = ?2",
                    )?
                    .execute(params![id.to_string(), current, new])?;
                Ok(Outcome::Commit(replaced == 1))
            })
            .await
    }
}
