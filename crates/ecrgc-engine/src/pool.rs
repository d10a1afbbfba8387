//! The memory pool of a bounded session: DataFusion's pool (greedy with hash joins, fair
//! with sort-merge joins, see `session.rs`), except that a nested-loop join always gets the
//! memory for its left side.
//!
//! DataFusion 55's `NestedLoopJoinExec`, refused the memory to load its left side, falls back
//! to a multi-pass mode that re-executes its left input once per output partition. Its own
//! source says that this fallback can emit wrong rows for LEFT, LEFT SEMI, LEFT ANTI and LEFT
//! MARK joins ("a similar latent issue in the fallback path",
//! `datafusion-physical-plan-55.2.0/src/joins/nested_loop_join.rs`, `execute`), and a
//! re-executed input that holds a `RepartitionExec` panics ("partition not used yet",
//! `repartition/mod.rs`), which is how a 10-million-image plan at a 2 GiB limit failed. A
//! plan's decisions must not depend on how full the pool is, so the fallback must never
//! start: the reservations of a nested-loop join's left side (`NestedLoopJoinLoad[…]`) always
//! grow, counted in the pool but never refused, so that side is held whole as it is without a
//! limit. The fallback also starts when the left input itself runs out of the pool (an
//! operator under it); this cannot be switched off short of disabling every spill. The
//! catalog's nested-loop joins today (`EXPLAIN` of every rule and guard): 13 inner joins, for
//! which DataFusion's fallback is correct but may panic, failing the plan (nothing written);
//! and one LEFT ANTI join whose left input is a plain scan of `collection_scope`, which takes
//! nothing from the pool, so its fallback cannot start.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// The name DataFusion gives the reservation of a nested-loop join's left side.
const NESTED_LOOP_JOIN_LOAD: &str = "NestedLoopJoinLoad";

/// A pool whose nested-loop join loads are never refused (see the module doc).
#[derive(Debug)]
pub(crate) struct NoNestedLoopFallback {
    inner: Arc<dyn MemoryPool>,
}

impl NoNestedLoopFallback {
    pub(crate) fn new(inner: Arc<dyn MemoryPool>) -> Self {
        Self { inner }
    }
}

impl std::fmt::Display for NoNestedLoopFallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.inner)
    }
}

impl MemoryPool for NoNestedLoopFallback {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.inner.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.inner.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.inner.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.inner.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        if reservation
            .consumer()
            .name()
            .starts_with(NESTED_LOOP_JOIN_LOAD)
        {
            self.inner.grow(reservation, additional);
            return Ok(());
        }
        self.inner.try_grow(reservation, additional)
    }

    fn reserved(&self) -> usize {
        self.inner.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        self.inner.memory_limit()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    use super::*;

    #[test]
    fn a_nested_loop_join_load_always_grows_and_everything_else_keeps_the_limit() {
        let pool: Arc<dyn MemoryPool> = Arc::new(NoNestedLoopFallback::new(Arc::new(
            GreedyMemoryPool::new(1000),
        )));
        let join = MemoryConsumer::new("HashJoinInput[0]").register(&pool);
        join.try_grow(900).expect("within the limit");
        assert!(join.try_grow(200).is_err(), "beyond the limit");

        let load = MemoryConsumer::new("NestedLoopJoinLoad[1]").register(&pool);
        load.try_grow(500).expect("never refused");
        assert_eq!(pool.reserved(), 1400, "counted all the same");
        assert!(
            MemoryConsumer::new("ExternalSorter[0]")
                .register(&pool)
                .try_grow(1)
                .is_err(),
            "the others see the pool full"
        );
        drop(load);
        assert_eq!(pool.reserved(), 900);
        assert!(matches!(pool.memory_limit(), MemoryLimit::Finite(1000)));
    }
}
