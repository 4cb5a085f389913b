//! In-process striped locks on products. Transactions that reserve the same product in one
//! process would only abort each other with write conflicts (MongoDB's concurrency is
//! optimistic); queueing them here first leaves conflicts to other processes only.
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use orderflow_core::ProductId;
use tokio::sync::{Mutex, OwnedMutexGuard};

const STRIPES: usize = 64;

#[derive(Clone)]
pub(crate) struct ProductLocks {
    stripes: Arc<Vec<Arc<Mutex<()>>>>,
}

impl ProductLocks {
    pub(crate) fn new() -> Self {
        Self {
            stripes: Arc::new((0..STRIPES).map(|_| Arc::new(Mutex::new(()))).collect()),
        }
    }

    /// Locks the stripes of `products`, always in ascending order so two orders with
    /// products in common cannot deadlock.
    pub(crate) async fn lock<'a>(
        &self,
        products: impl IntoIterator<Item = &'a ProductId>,
    ) -> Vec<OwnedMutexGuard<()>> {
        let mut indices: Vec<usize> = products
            .into_iter()
            .map(|id| {
                let mut hasher = DefaultHasher::new();
                id.hash(&mut hasher);
                (hasher.finish() % STRIPES as u64) as usize
            })
            .collect();
        indices.sort_unstable();
        indices.dedup();
        let mut guards = Vec::with_capacity(indices.len());
        for index in indices {
            guards.push(Arc::clone(&self.stripes[index]).lock_owned().await);
        }
        guards
    }
}
