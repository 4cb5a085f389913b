//! What the use cases need from the outside world. Adapters implement these traits.
mod cache;
mod credentials;
mod rate_limit;
mod store;

pub use cache::{CacheError, OrderCache};
pub use credentials::{AccessTokens, CredentialError, IssuedAccessToken, PasswordHasher};
pub use rate_limit::{RateDecision, RateLimitError, RateLimiter};
pub use store::{
    IdempotencyClaim, IdempotentReplay, InventoryStore, NewRefreshToken, OrderStore, OutboxEntry,
    Placement, RefreshTokenStore, Rotation, Shortage, Store, StoreError, Transitioned,
    UpsertSummary, UserRecord, UserStore,
};
