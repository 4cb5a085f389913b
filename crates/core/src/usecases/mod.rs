//! The application's operations, written against the ports only.
mod announce;
mod auth;
mod emailing;
mod inventory;
mod known_products;
mod orders;
mod page;
mod processing;
mod seeding;

pub use auth::{AuthError, AuthService, Registration, Session};
pub use emailing::{EmailPolicy, EmailingService};
pub use inventory::{InventoryError, InventoryService};
pub use orders::{
    CachePolicy, CacheStatus, IDEMPOTENCY_WINDOW, OrderError, OrderService, PlacedOrder,
};
pub use page::Page;
pub use processing::{Delivery, Handled, ProcessingService, RetryLater};
pub use seeding::{CatalogRow, RowError, SeedError, SeedMode, SeedService};
