use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::TraceParent;

/// Where an order is in its life. The only way from one status to another is a
/// [`StatusTransition`], which exists only for the legal moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Processing,
    Processed,
    Failed,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        Self::Pending,
        Self::Processing,
        Self::Processed,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Processing => "PROCESSING",
            Self::Processed => "PROCESSED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw))
            .ok_or_else(|| {
                "must be one of PENDING, PROCESSING, PROCESSED, FAILED, CANCELLED".to_owned()
            })
    }

    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Pending, Processing)
                | (Pending, Cancelled)
                | (Pending, Failed)
                | (Processing, Processed)
                | (Processing, Failed)
        )
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Processed | Self::Failed | Self::Cancelled)
    }

    /// Reaching this status gives the order's reserved stock back.
    pub fn releases_stock(self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled)
    }

    /// Reaching this status emails the user ([`crate::EmailMessage::for_order`]).
    pub fn is_emailed(self) -> bool {
        matches!(self, Self::Processed | Self::Failed)
    }

    /// The statuses that carry a reason in the history.
    pub fn needs_reason(self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of an order's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub status: OrderStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

/// A legal move from one status to the next. Stores apply it compare-and-set: only if the
/// order is still in `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusTransition {
    from: OrderStatus,
    change: StatusChange,
    /// The trace of the work making the change: the email a final status records goes out
    /// in that trace.
    trace_parent: Option<TraceParent>,
}

impl StatusTransition {
    pub fn new(
        from: OrderStatus,
        to: OrderStatus,
        reason: Option<String>,
        at: OffsetDateTime,
    ) -> Result<Self, IllegalTransition> {
        if !from.can_become(to) {
            return Err(IllegalTransition { from, to });
        }
        let reason = match reason {
            Some(reason) => Some(reason),
            None if to.needs_reason() => Some(to.as_str().to_lowercase()),
            None => None,
        };
        Ok(Self {
            from,
            change: StatusChange {
                status: to,
                at,
                reason,
            },
            trace_parent: None,
        })
    }

    /// This transition made inside the trace `parent`.
    pub fn traced(mut self, parent: Option<TraceParent>) -> Self {
        self.trace_parent = parent;
        self
    }

    pub fn trace_parent(&self) -> Option<TraceParent> {
        self.trace_parent
    }

    pub fn from(&self) -> OrderStatus {
        self.from
    }

    pub fn to(&self) -> OrderStatus {
        self.change.status
    }

    pub fn change(&self) -> &StatusChange {
        &self.change
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn only_the_documented_moves_are_legal() {
        let legal = [
            (Pending, Processing),
            (Pending, Cancelled),
            (Pending, Failed),
            (Processing, Processed),
            (Processing, Failed),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = legal.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                let made = StatusTransition::new(from, to, None, OffsetDateTime::UNIX_EPOCH);
                assert_eq!(made.is_ok(), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn terminal_statuses_go_nowhere() {
        for status in [Processed, Failed, Cancelled] {
            assert!(status.is_terminal());
            assert!(OrderStatus::ALL.iter().all(|to| !status.can_become(*to)));
        }
    }

    #[test]
    fn failing_and_cancelling_carry_a_reason() {
        let t = StatusTransition::new(Pending, Cancelled, None, OffsetDateTime::UNIX_EPOCH)
            .expect("legal");
        assert!(t.change().reason.is_some());
        let t = StatusTransition::new(Pending, Processing, None, OffsetDateTime::UNIX_EPOCH)
            .expect("legal");
        assert!(t.change().reason.is_none());
    }

    #[test]
    fn statuses_parse_case_insensitively() {
        assert_eq!(OrderStatus::parse("pending"), Ok(Pending));
        assert!(OrderStatus::parse("SHIPPED").is_err());
    }
}
