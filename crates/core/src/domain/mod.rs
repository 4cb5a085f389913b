//! Types that cannot hold invalid values: each is parsed once at the edge and trusted after.
mod clock;
mod email;
mod email_message;
mod field_error;
mod idempotency;
mod money;
mod order;
mod order_request;
mod pagination;
mod product;
mod refresh_token;
mod status;
mod user;

pub use clock::{now, truncate_to_millis};
pub use email::Email;
pub use email_message::EmailMessage;
pub use field_error::{FieldError, FieldErrors};
pub use idempotency::{IdempotencyKey, RequestFingerprint};
pub use money::{Currency, Money};
pub use order::{Order, OrderId, OrderLine, PricingError, Quantity};
pub use order_request::{OrderRequest, RequestedLine};
pub use pagination::{Cursor, PageLimit};
pub use product::{Product, ProductId, ProductName, Stock};
pub use refresh_token::{RefreshToken, TokenFamilyId, TokenHash};
pub use status::{IllegalTransition, OrderStatus, StatusChange, StatusTransition};
pub use user::{Password, PasswordHash, User, UserId, UserName};
