//! The event streams open at once, counted per user and in all: an idle stream holds a
//! connection and re-reads its order now and then, so their number is bounded.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use orderflow_core::UserId;

use crate::settings::StreamLimits;

pub struct OpenStreams {
    limits: StreamLimits,
    open: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: u32,
    per_user: HashMap<UserId, u32>,
}

/// One open stream; dropping it (the stream ended or its client went away) frees its place.
pub struct StreamPermit {
    streams: Arc<OpenStreams>,
    user: UserId,
}

impl OpenStreams {
    pub fn new(limits: StreamLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: Mutex::new(Counts::default()),
        })
    }

    pub fn limits(&self) -> StreamLimits {
        self.limits
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A place for one more of `user`'s streams, unless the user or everyone is at the limit.
    pub fn open(self: &Arc<Self>, user: UserId) -> Option<StreamPermit> {
        let mut counts = self.counts();
        let mine = counts.per_user.get(&user).copied().unwrap_or(0);
        if mine >= self.limits.per_user || counts.total >= self.limits.total {
            return None;
        }
        counts.per_user.insert(user, mine + 1);
        counts.total += 1;
        Some(StreamPermit {
            streams: Arc::clone(self),
            user,
        })
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut counts = self.streams.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(mine) = counts.per_user.get_mut(&self.user) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                counts.per_user.remove(&self.user);
            }
        }
    }
}
