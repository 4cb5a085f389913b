use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::{
    Email, FieldError, FieldErrors, Password, RefreshToken, TokenFamilyId, User, UserId, UserName,
};
use crate::ports::{
    AccessTokens, CredentialError, IssuedAccessToken, NewRefreshToken, PasswordHasher, Rotation,
    Store, StoreError, UserRecord,
};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("this email is already registered")]
    EmailTaken,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    #[error("the refresh token was already used; its session has been revoked")]
    RefreshTokenReused,
    #[error("the user no longer exists")]
    UnknownUser,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

/// A valid registration.
#[derive(Debug, Clone)]
pub struct Registration {
    pub name: UserName,
    pub email: Email,
    pub password: Password,
}

impl Registration {
    pub fn parse(name: &str, email: &str, password: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = FieldErrors::new();
        let name = errors.take("name", UserName::parse(name));
        let email = errors.take("email", Email::parse(email));
        let password = errors.take("password", Password::parse(password));
        match (name, email, password) {
            (Some(name), Some(email), Some(password)) => Ok(Self {
                name,
                email,
                password,
            }),
            _ => Err(errors.into_vec()),
        }
    }
}

/// What a login or a refresh hands the client.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub access: IssuedAccessToken,
    pub refresh: RefreshToken,
    pub refresh_expires_at: OffsetDateTime,
}

pub struct AuthService {
    store: Arc<dyn Store>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn AccessTokens>,
    refresh_ttl: Duration,
}

impl AuthService {
    pub fn new(
        store: Arc<dyn Store>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn AccessTokens>,
        refresh_ttl: Duration,
    ) -> Self {
        Self {
            store,
            hasher,
            tokens,
            refresh_ttl,
        }
    }

    pub async fn register(&self, registration: Registration) -> Result<User, AuthError> {
        // Cheap check first, so a taken email does not cost a hash; the unique index decides.
        if self
            .store
            .user_by_email(registration.email.normalized())
            .await?
            .is_some()
        {
            return Err(AuthError::EmailTaken);
        }
        let password_hash = self.hasher.hash(registration.password).await?;
        let user = User {
            id: UserId::generate(),
            name: registration.name,
            email: registration.email,
            created_at: now(),
        };
        let record = UserRecord {
            user: user.clone(),
            password_hash,
        };
        if !self.store.insert_user(&record).await? {
            return Err(AuthError::EmailTaken);
        }
        Ok(user)
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<Session, AuthError> {
        let mut errors = FieldErrors::new();
        let email = errors.take("email", Email::parse(email));
        let password = errors.take("password", Password::for_login(password));
        let (Some(email), Some(password)) = (email, password) else {
            return Err(AuthError::Invalid(errors.into_vec()));
        };
        let record = self.store.user_by_email(email.normalized()).await?;
        let hash = record.as_ref().map(|r| r.password_hash.clone());
        let verified = self.hasher.verify(password.clone(), hash).await?;
        match record {
            Some(record) if verified => {
                if self.hasher.needs_rehash(&record.password_hash) {
                    self.rehash(&record, password).await;
                }
                self.start_session(record.user, TokenFamilyId::generate())
                    .await
            }
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// Moves a hash made with older parameters to the current ones, while the password is at
    /// hand. The login goes on whatever happens: the old hash still verifies.
    async fn rehash(&self, record: &UserRecord, password: Password) {
        let user = record.user.id;
        let replaced = match self.hasher.hash(password).await {
            Ok(new) => {
                self.store
                    .replace_password_hash(user, &record.password_hash, &new)
                    .await
            }
            Err(e) => {
                tracing::warn!(%user, error = %e, "could not rehash the password");
                return;
            }
        };
        match replaced {
            Ok(true) => tracing::info!(%user, "password hash moved to the current parameters"),
            Ok(false) => tracing::debug!(%user, "password hash changed meanwhile; kept"),
            Err(e) => tracing::warn!(%user, error = %e, "could not store the rehashed password"),
        }
    }

    pub async fn refresh(&self, presented: &str) -> Result<Session, AuthError> {
        let presented =
            RefreshToken::parse(presented).map_err(|_| AuthError::InvalidRefreshToken)?;
        let next = new_refresh_token()?;
        let now = now();
        let expires_at = now + self.refresh_ttl;
        match self
            .store
            .rotate_refresh_token(&presented.hash(), &next.hash(), expires_at, now)
            .await?
        {
            Rotation::Rotated { user_id, family } => {
                let user = self
                    .store
                    .user_by_id(user_id)
                    .await?
                    .ok_or(AuthError::UnknownUser)?;
                tracing::debug!(%family, "refresh token rotated");
                Ok(Session {
                    access: self.tokens.issue(user.id, now)?,
                    user,
                    refresh: next,
                    refresh_expires_at: expires_at,
                })
            }
            Rotation::Reused { family } => {
                tracing::warn!(%family, "rotated refresh token presented again; family revoked");
                Err(AuthError::RefreshTokenReused)
            }
            Rotation::Rejected => Err(AuthError::InvalidRefreshToken),
        }
    }

    /// Ends the login the token belongs to. Unknown tokens are not an error: the client's
    /// goal, no live session for this token, holds either way.
    pub async fn logout(&self, presented: &str) -> Result<(), AuthError> {
        if let Ok(token) = RefreshToken::parse(presented) {
            self.store.revoke_token_family(&token.hash(), now()).await?;
        }
        Ok(())
    }

    pub async fn me(&self, user_id: UserId) -> Result<User, AuthError> {
        self.store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::UnknownUser)
    }

    pub fn verify_access_token(&self, token: &str) -> Result<UserId, CredentialError> {
        self.tokens.verify(token)
    }

    async fn start_session(&self, user: User, family: TokenFamilyId) -> Result<Session, AuthError> {
        let now = now();
        let refresh = new_refresh_token()?;
        let expires_at = now + self.refresh_ttl;
        self.store
            .insert_refresh_token(&NewRefreshToken {
                hash: refresh.hash(),
                family,
                user_id: user.id,
                issued_at: now,
                expires_at,
            })
            .await?;
        Ok(Session {
            access: self.tokens.issue(user.id, now)?,
            user,
            refresh,
            refresh_expires_at: expires_at,
        })
    }
}

fn new_refresh_token() -> Result<RefreshToken, AuthError> {
    RefreshToken::generate()
        .map_err(|e| AuthError::Credentials(CredentialError::Internal(e.to_string())))
}

fn now() -> OffsetDateTime {
    crate::domain::now()
}
