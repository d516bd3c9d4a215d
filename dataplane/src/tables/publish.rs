//! Read-copy-update publication of `Tables`.
//!
//! The control plane builds a new `Tables` off to the side and publishes it;
//! each worker compares one generation number at the top of its poll loop (its
//! quiescent point) and, when it changed, takes the new version. A version is
//! freed when the last worker lets go of it — and that drop happens on the
//! control thread: workers hand old versions back through a queue, so a big
//! routing table is never freed on a packet core.
use super::Tables;
use arc_swap::ArcSwap;
use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub struct TablePublisher {
    current: ArcSwap<Tables>,
    generation: AtomicU64,
    retired: ArrayQueue<Arc<Tables>>,
    /// Serialises writers (control-plane threads only, never a worker).
    write: Mutex<()>,
}

impl TablePublisher {
    pub fn new(initial: Tables) -> Self {
        let generation = AtomicU64::new(initial.generation);
        TablePublisher {
            current: ArcSwap::from_pointee(initial),
            generation,
            retired: ArrayQueue::new(1024),
            write: Mutex::new(()),
        }
    }

    /// The latest version (control plane side).
    pub fn load(&self) -> Arc<Tables> {
        self.current.load_full()
    }

    /// Builds the next version from the current one under the writer lock and
    /// publishes it. `f` gets the current version and returns the new one
    /// (whose generation is set here).
    pub fn update(&self, f: impl FnOnce(&Tables) -> Tables) -> Arc<Tables> {
        self.try_update(|cur| Some(f(cur)))
            .expect("update always publishes")
    }

    /// Like `update`, but `f` may decline (return None): nothing is published then.
    pub fn try_update(&self, f: impl FnOnce(&Tables) -> Option<Tables>) -> Option<Arc<Tables>> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let cur = self.current.load_full();
        let mut next = f(&cur)?;
        next.generation = cur.generation + 1;
        let next = Arc::new(next);
        self.current.store(next.clone());
        self.generation.store(next.generation, Ordering::Release);
        drop(cur);
        self.free_retired();
        Some(next)
    }

    /// Drops versions the workers handed back (control thread).
    pub fn free_retired(&self) {
        while self.retired.pop().is_some() {}
    }

    #[inline(always)]
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// A worker's view: the version it is using until its next quiescent point.
pub struct TableReader {
    cur: Arc<Tables>,
}

impl TableReader {
    pub fn new(p: &TablePublisher) -> Self {
        TableReader { cur: p.load() }
    }

    /// Quiescent point: takes the newest version if there is one. True if it changed.
    #[inline(always)]
    pub fn refresh(&mut self, p: &TablePublisher) -> bool {
        if p.generation() == self.cur.generation {
            return false;
        }
        let old = std::mem::replace(&mut self.cur, p.current.load_full());
        // Hand the old version to the control thread; if its queue is full, free it here.
        let _ = p.retired.push(old);
        true
    }

    #[inline(always)]
    pub fn tables(&self) -> &Tables {
        &self.cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_whole_versions_and_old_ones_are_freed() {
        let p = TablePublisher::new(Tables::empty());
        let mut r = TableReader::new(&p);
        assert!(!r.refresh(&p));
        let v1 = p.update(|_| Tables::empty());
        assert_eq!(v1.generation, 1);
        let weak0 = Arc::downgrade(&r.cur);
        assert!(r.refresh(&p));
        assert_eq!(r.tables().generation, 1);
        // Version 0 waits in the retired queue until the control thread frees it.
        assert!(weak0.upgrade().is_some());
        p.free_retired();
        assert!(weak0.upgrade().is_none());
        drop(v1);
        assert!(!r.refresh(&p));
    }
}
