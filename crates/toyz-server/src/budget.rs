//! The server's memory budget for heavy work (histograms of rectangles, region statistics, catalog
//! parsing, detection, …): work reserves the bytes it is about to allocate and gives them back when its
//! permit drops. Work that could never fit is refused (`too_large`); work that does not fit now is
//! answered `busy` (the client retries), so these allocations never exceed the budget whatever clients
//! ask.

use crate::error::{ApiError, Kind};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// A reservation of the budget, released on drop.
pub struct MemoryPermit(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

/// The budget, counted in MiB.
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total_mib: u64,
}

impl MemoryBudget {
    pub fn new(bytes: u64) -> MemoryBudget {
        let total_mib = (bytes >> 20).min(Semaphore::MAX_PERMITS as u64);
        MemoryBudget {
            permits: Arc::new(Semaphore::new(total_mib as usize)),
            total_mib,
        }
    }

    /// Reserve `bytes` (rounded up to whole MiB, at least one) for `what`.
    pub fn reserve(&self, bytes: u64, what: &str) -> Result<MemoryPermit, ApiError> {
        let mib = bytes.div_ceil(1 << 20).max(1);
        let total = self.total_mib;
        if mib > total {
            return Err(ApiError::of(
                Kind::TooLarge,
                format!(
                    "{what} needs {mib} MiB, more than the server's memory budget ({total} MiB)"
                ),
            ));
        }
        self.permits
            .clone()
            .try_acquire_many_owned(mib as u32)
            .map(MemoryPermit)
            .map_err(|_| {
                ApiError::busy(format!(
                    "the server's memory budget is in use; retry {what} shortly"
                ))
            })
    }

    /// MiB reserved right now.
    pub fn in_use(&self) -> u64 {
        self.total_mib - self.permits.available_permits() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_the_budget_or_are_refused() {
        let b = MemoryBudget::new(10 << 20);
        let never = b.reserve(11 << 20, "a huge thing").err().unwrap();
        assert_eq!(never.kind, Kind::TooLarge);
        assert!(
            never.message.contains("a huge thing needs 11 MiB"),
            "{}",
            never.message
        );
        let a = b.reserve(6 << 20, "a").unwrap();
        assert_eq!(b.in_use(), 6);
        // A byte counts as a whole MiB.
        let c = b.reserve(1, "c").unwrap();
        assert_eq!(b.in_use(), 7);
        let now = b.reserve(4 << 20, "d").err().unwrap();
        assert_eq!(now.kind, Kind::Busy);
        drop(a);
        assert_eq!(b.in_use(), 1);
        let _d = b.reserve(4 << 20, "d").unwrap();
        drop(c);
        assert_eq!(b.in_use(), 4);
    }
}
