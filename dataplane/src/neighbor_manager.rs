//! The single writer of neighbor tables: folds workers' `NeighborEvent`s into
//! per-vnet master copies, ages dynamic entries, republishes what changed.
use crate::tables::{NeighborEvent, NeighborTable, TablePublisher, Tables, Vnet};
use crossbeam_queue::ArrayQueue;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub struct NeighborManager {
    master: HashMap<u64, NeighborTable>,
    dirty: HashSet<u64>,
}

impl NeighborManager {
    pub fn empty() -> Self {
        NeighborManager {
            master: HashMap::new(),
            dirty: HashSet::new(),
        }
    }

    /// Starts from the neighbor tables (static entries) of the published version.
    pub fn new(t: &Tables) -> Self {
        let master = t
            .vnets
            .iter()
            .map(|v| (v.fwd.id, (*v.neighbors).clone()))
            .collect();
        NeighborManager {
            master,
            dirty: HashSet::new(),
        }
    }

    /// Tracks a vnet added after start (its static entries), or forgets a destroyed one.
    pub fn set_vnet(&mut self, vnet_id: u64, table: Option<NeighborTable>) {
        match table {
            Some(t) => self.master.insert(vnet_id, t),
            None => self.master.remove(&vnet_id),
        };
    }

    /// Drains the workers' queue. Returns true if something a reader sees changed.
    pub fn drain(&mut self, events: &ArrayQueue<NeighborEvent>) -> bool {
        while let Some(ev) = events.pop() {
            if let Some(t) = self.master.get_mut(&ev.vnet_id) {
                let before = t.get(ev.addr).map(|e| e.mac);
                t.learn(ev.addr, ev.mac, ev.tsc);
                // A timestamp refresh alone is not worth a republish.
                if before != Some(ev.mac) {
                    self.dirty.insert(ev.vnet_id);
                }
            }
        }
        !self.dirty.is_empty()
    }

    /// Forgets dynamic entries confirmed before `oldest_tsc`.
    pub fn expire(&mut self, oldest_tsc: u64) {
        for (id, t) in self.master.iter_mut() {
            if t.expire(oldest_tsc) > 0 {
                self.dirty.insert(*id);
            }
        }
    }

    /// Publishes new neighbor snapshots for the vnets that changed.
    pub fn publish(&mut self, p: &TablePublisher) {
        if self.dirty.is_empty() {
            return;
        }
        let dirty = std::mem::take(&mut self.dirty);
        let master = &self.master;
        p.update(|cur| Tables {
            generation: cur.generation,
            demux: cur.demux.clone(),
            vnets: cur
                .vnets
                .iter()
                .map(|v| match master.get(&v.fwd.id) {
                    Some(t) if dirty.contains(&v.fwd.id) => {
                        Vnet::new(v.fwd.clone(), Arc::new(t.clone()))
                    }
                    _ => v.clone(),
                })
                .collect(),
            ports: cur.ports.clone(),
        });
    }

    /// Installs a vnet's configured (static) entries, keeping what it learned:
    /// old static entries go, learned ones stay unless a static entry replaces them.
    pub fn replace_statics(&mut self, vnet_id: u64, statics: NeighborTable) -> &NeighborTable {
        let t = self.master.entry(vnet_id).or_default();
        t.v4.retain(|_, e| !e.is_static);
        t.v6.retain(|_, e| !e.is_static);
        t.v4.extend(statics.v4);
        t.v6.extend(statics.v6);
        t
    }

    pub fn table(&self, vnet_id: u64) -> Option<&NeighborTable> {
        self.master.get(&vnet_id)
    }
}
