//! What the use cases need from the outside world. Adapters implement these traits.
mod broadcast;
mod cache;
mod credentials;
mod mailer;
mod observer;
mod processor;
mod queue;
mod rate_limit;
mod store;

pub use broadcast::{BroadcastError, StatusBroadcaster, StatusEvent, StatusSubscription};
pub use cache::{CacheError, OrderCache};
pub use credentials::{AccessTokens, CredentialError, IssuedAccessToken, PasswordHasher};
pub use mailer::{MailError, Mailer};
pub use observer::{EmailOutcome, NoObserver, PipelineObserver};
pub use processor::{AcceptAll, OrderProcessor, ProcessingError};
pub use queue::{OutgoingMessage, Queue, QueueDepth, QueueError, ReceivedMessage};
pub use rate_limit::{RateDecision, RateLimitError, RateLimiter};
pub use store::{
    EmailOutboxStore, EmailSettlement, Housekeeping, IdempotencyClaim, IdempotentReplay,
    InventoryStore, NewRefreshToken, OrderStore, OutboxEntry, OutboxStore, PendingEmail, Placement,
    Purged, RefreshTokenStore, Rotation, Shortage, Store, StoreError, Transitioned, UpsertSummary,
    UserRecord, UserStore,
};
