use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Currency, IllegalTransition, Money, OrderStatus, ProductId, ProductName, StatusChange,
    StatusTransition, UserId,
};

/// An order's id: a UUIDv7, so ids sort by creation time (newest-first listing uses that).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(Uuid);

impl OrderId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Uuid::parse_str(raw)
            .map(Self)
            .map_err(|_| "must be an order id (UUID)".to_owned())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Units of one product on one order line: 1 to 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: u32 = 10_000;

    pub fn parse(raw: i64) -> Result<Self, String> {
        match u32::try_from(raw) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(format!("must be between 1 and {}", Self::MAX)),
        }
    }

    pub fn get(&self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Quantity {
    type Error = String;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::parse(i64::from(value))
    }
}

impl From<Quantity> for u32 {
    fn from(value: Quantity) -> Self {
        value.0
    }
}

/// A priced line: the price is the inventory's at the moment the order was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub product_id: ProductId,
    pub name: ProductName,
    pub quantity: Quantity,
    pub unit_price: Money,
}

impl OrderLine {
    /// `None` only if the amount overflows, which [`Order::place`] refuses.
    pub fn line_total(&self) -> Option<Money> {
        self.unit_price.checked_mul(self.quantity.get())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("an order needs at least one line")]
    NoLines,
    #[error("all lines of an order must be in one currency")]
    MixedCurrencies,
    #[error("the order total is too large")]
    Overflow,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub total: Money,
    pub history: Vec<StatusChange>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Order {
    /// A new `PENDING` order with its total computed from its priced lines.
    pub fn place(
        user_id: UserId,
        lines: Vec<OrderLine>,
        now: OffsetDateTime,
    ) -> Result<Self, PricingError> {
        let currency: Currency = lines
            .first()
            .ok_or(PricingError::NoLines)?
            .unit_price
            .currency();
        let mut total = Money::zero(currency);
        for line in &lines {
            if line.unit_price.currency() != currency {
                return Err(PricingError::MixedCurrencies);
            }
            total = line
                .line_total()
                .and_then(|t| total.checked_add(t))
                .ok_or(PricingError::Overflow)?;
        }
        Ok(Self {
            id: OrderId::generate(),
            user_id,
            status: OrderStatus::Pending,
            lines,
            total,
            history: vec![StatusChange {
                status: OrderStatus::Pending,
                at: now,
                reason: None,
            }],
            created_at: now,
            updated_at: now,
        })
    }

    /// Starts a move from the current status; the store applies it compare-and-set.
    pub fn transition(
        &self,
        to: OrderStatus,
        reason: Option<String>,
        at: OffsetDateTime,
    ) -> Result<StatusTransition, IllegalTransition> {
        StatusTransition::new(self.status, to, reason, at)
    }

    /// Which version of the order this is: every status change appends to the history, so
    /// its length orders the versions.
    pub fn version(&self) -> usize {
        self.history.len()
    }

    /// Whether this is a later version of the same order than `other`.
    pub fn is_newer_than(&self, other: &Order) -> bool {
        self.version() > other.version()
    }

    /// This order with `transition` applied, as a store records it.
    pub fn apply(&mut self, transition: &StatusTransition) -> Result<(), IllegalTransition> {
        if self.status != transition.from() {
            return Err(IllegalTransition {
                from: self.status,
                to: transition.to(),
            });
        }
        self.status = transition.to();
        self.updated_at = transition.change().at;
        self.history.push(transition.change().clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str, quantity: i64, price: i64, currency: Currency) -> OrderLine {
        OrderLine {
            product_id: ProductId::parse(sku).expect("valid"),
            name: ProductName::parse("Thing").expect("valid"),
            quantity: Quantity::parse(quantity).expect("valid"),
            unit_price: Money::new(price, currency).expect("valid"),
        }
    }

    #[test]
    fn quantity_bounds() {
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(-1).is_err());
        assert!(Quantity::parse(10_001).is_err());
        assert_eq!(Quantity::parse(10_000).map(|q| q.get()), Ok(10_000));
    }

    #[test]
    fn totals_come_from_the_lines() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let order = Order::place(
            UserId::generate(),
            vec![
                line("a", 2, 1999, Currency::USD),
                line("b", 1, 500, Currency::USD),
            ],
            now,
        )
        .expect("valid");
        assert_eq!(order.total.minor(), 4498);
        assert_eq!(order.status, OrderStatus::Pending);
        assert_eq!(order.history.len(), 1);
    }

    #[test]
    fn mixed_currencies_and_empty_orders_are_refused() {
        let eur = Currency::parse("EUR").expect("valid");
        let now = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(
            Order::place(UserId::generate(), vec![], now),
            Err(PricingError::NoLines)
        );
        assert_eq!(
            Order::place(
                UserId::generate(),
                vec![line("a", 1, 1, Currency::USD), line("b", 1, 1, eur)],
                now
            ),
            Err(PricingError::MixedCurrencies)
        );
    }

    #[test]
    fn applying_a_transition_appends_history() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut order = Order::place(
            UserId::generate(),
            vec![line("a", 1, 1, Currency::USD)],
            now,
        )
        .expect("valid");
        let t = order
            .transition(OrderStatus::Cancelled, Some("changed my mind".into()), now)
            .expect("legal");
        order.apply(&t).expect("applies");
        assert_eq!(order.status, OrderStatus::Cancelled);
        assert_eq!(order.history.len(), 2);
        assert!(order.apply(&t).is_err(), "a transition applies once");
    }
}
