//! Dynamic states (ipfw's "dynamic rules"): a bounded, concurrent hash table.
//!
//! Design (see also firewall/README.md):
//! - One table per vnet, shared by all workers and by every rule-set version.
//! - Fixed capacity chosen at creation: `max_states` entries (default 8192, ipfw's
//!   `dyn_max`) in buckets of 8 ways; the table never grows or allocates after
//!   creation. When it is full a new flow is refused (the packet is dropped and
//!   counted), never a crash.
//! - Lookups take no lock: each bucket has a sequence number (a seqlock); a
//!   reader reads the 8 one-word fingerprints of the bucket, compares the key
//!   words of the candidates and checks that the sequence did not change.
//! - Refreshing a state on a hit (TCP flags seen, expiry) is a compare-and-swap
//!   of one word that holds [generation:24 | flags:8 | expire:32]; the word is
//!   rewritten at most once a second per flow (the expiry has 1 s resolution,
//!   as ipfw's), and a CAS that fails because the slot was reused in between is
//!   harmless.
//! - Inserting and removing lock one bucket (the sequence number made odd).
//!   Inserting a new flow is the slow path: it happens once per flow.
//! - Expired states stay in place until [`StateTable::expire`] (the control
//!   plane calls it every second, like ipfw's dyn_tick) or until an insert into
//!   the same bucket reuses the slot.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::packet::{frag, proto, tcp, Family, Head4, PacketMeta};
use crate::prefetch::prefetch;

/// Lifetimes of dynamic states, in seconds (ipfw's `net.inet.ip.fw.dyn_*_lifetime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// TCP, both SYNs seen (established).
    pub ack: u32,
    /// TCP, only the opening SYN seen.
    pub syn: u32,
    /// TCP, both FINs seen.
    pub fin: u32,
    /// TCP, a RST seen (or no SYN ever seen).
    pub rst: u32,
    pub udp: u32,
    /// Any other protocol (`dyn_short_lifetime`).
    pub other: u32,
}

impl Default for Lifetimes {
    /// ipfw(8)'s documented defaults: ack 300, syn 20, fin 1, rst 1, udp 5, short 30.
    fn default() -> Self {
        Lifetimes {
            ack: 300,
            syn: 20,
            fin: 1,
            rst: 1,
            udp: 5,
            other: 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateConfig {
    /// Most states (ipfw's `dyn_max`, default 8192) including `limit` parents.
    pub max_states: usize,
    pub lifetimes: Lifetimes,
    /// Seed of the flow hash; 0 draws a random one (what a router wants: a
    /// peer cannot aim flows at one bucket). Tests fix it to compare tables.
    pub hash_seed: u64,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            max_states: 8192,
            lifetimes: Lifetimes::default(),
            hash_seed: 0,
        }
    }
}

/// The 5-tuple (and family) of a flow as seen by the packet that created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub family: Family,
    pub proto: u8,
    pub src: u128,
    pub dst: u128,
    pub sport: u16,
    pub dport: u16,
}

impl FlowKey {
    pub fn of(p: &PacketMeta) -> Self {
        let (sport, dport) = if p.has_ports() {
            (p.sport, p.dport)
        } else {
            (0, 0)
        };
        FlowKey {
            family: p.family,
            proto: p.proto,
            src: p.src,
            dst: p.dst,
            sport,
            dport,
        }
    }

    /// The key of an IPv4 packet from the few header fields the dataplane reads
    /// before it builds the packet's metadata: equal to `of` on that metadata.
    pub fn of_head4(h: &Head4) -> Self {
        let ports = proto::has_ports(h.proto) && h.frag & frag::OFFSET == 0;
        let (sport, dport) = if ports { (h.sport, h.dport) } else { (0, 0) };
        FlowKey {
            family: Family::V4,
            proto: h.proto,
            src: h.src as u128,
            dst: h.dst as u128,
            sport,
            dport,
        }
    }

    fn reversed(&self) -> Self {
        FlowKey {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            ..*self
        }
    }
}

/// Which states a lookup may match, by flow name id (0 is `:default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlowMatch {
    Id(u16),
    Any,
}

/// A state found for a packet: the rule that created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateHit {
    pub rule_id: u32,
    pub rule_number: u16,
    /// The packet goes the way of the packet that created the state.
    pub forward: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// `max_states` reached (or the flow's bucket is full).
    Full,
    /// A `limit` rule's connection limit reached.
    Limit,
}

/// Counters of the state table (for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateStats {
    pub live: usize,
    pub created: u64,
    pub full_drops: u64,
    pub limit_drops: u64,
}

/// One state as `show -d` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateInfo {
    pub key: FlowKey,
    pub rule_id: u32,
    pub rule_number: u16,
    pub flow_id: u16,
    /// Seconds left to live (0 when expired but not yet swept).
    pub expires_in_s: u32,
    /// A `limit` parent: `key` holds only the limited fields.
    pub parent: Option<u32>,
}

const WAYS: usize = 8;

// Word indexes in a slot.
const W_SRC_HI: usize = 0;
const W_SRC_LO: usize = 1;
const W_DST_HI: usize = 2;
const W_DST_LO: usize = 3;
const W_META: usize = 4;
const W_RULE: usize = 5;
const W_STATE: usize = 6;
const W_AUX: usize = 7;

const META_VALID: u64 = 1 << 63;
const META_PARENT: u64 = 1 << 62;
const META_V6: u64 = 1 << 61;

// TCP state bits: FIN/SYN/RST seen forward, then the same shifted by 3 for reverse.
const ST_SYN: u8 = tcp::SYN;
const BOTH_SYN: u8 = tcp::SYN | tcp::SYN << 3;
const BOTH_FIN: u8 = tcp::FIN | tcp::FIN << 3;

#[derive(Default)]
#[repr(align(64))]
struct Slot {
    w: [AtomicU64; 8],
}

#[derive(Default)]
#[repr(align(64))]
struct Bucket {
    /// Seqlock: odd while a writer holds the bucket.
    seq: AtomicU32,
    /// Per-way fingerprint of the key's hash; 0 = empty way.
    fp: [AtomicU32; WAYS],
    slots: [Slot; WAYS],
}

pub struct StateTable {
    buckets: Box<[Bucket]>,
    mask: usize,
    seed: u64,
    max: usize,
    lifetimes: Lifetimes,
    live: AtomicUsize,
    created: AtomicU64,
    full_drops: AtomicU64,
    limit_drops: AtomicU64,
}

impl std::fmt::Debug for StateTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateTable")
            .field("buckets", &self.buckets.len())
            .field("max", &self.max)
            .field("stats", &self.stats())
            .finish()
    }
}

fn meta_word(parent: bool, k: &FlowKey, flow: u16) -> u64 {
    META_VALID
        | if parent { META_PARENT } else { 0 }
        | if k.family == Family::V6 { META_V6 } else { 0 }
        | (k.proto as u64) << 48
        | (k.sport as u64) << 32
        | (k.dport as u64) << 16
        | flow as u64
}

fn state_word(gen: u32, flags: u8, expire: u32) -> u64 {
    ((gen & 0xff_ffff) as u64) << 40 | (flags as u64) << 32 | expire as u64
}

fn st_gen(w: u64) -> u32 {
    (w >> 40) as u32 & 0xff_ffff
}
fn st_flags(w: u64) -> u8 {
    (w >> 32) as u8
}
fn st_expire(w: u64) -> u32 {
    w as u32
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The next TCP state bits and lifetime after a packet with `th` flags, the
/// way ipfw's dyn_update_tcp_state does it.
fn tcp_next(st: u8, th: u8, forward: bool, lt: &Lifetimes) -> (u8, u32) {
    let f = th & (tcp::FIN | tcp::SYN | tcp::RST);
    let st = st | if forward { f } else { f << 3 };
    let life = match st & 0x3f {
        ST_SYN => lt.syn,
        x if x == BOTH_SYN || x == BOTH_SYN | tcp::FIN || x == BOTH_SYN | tcp::FIN << 3 => lt.ack,
        x if x == BOTH_SYN | BOTH_FIN => lt.fin,
        _ => lt.rst,
    };
    (st, life)
}

impl StateTable {
    pub fn new(cfg: StateConfig) -> Self {
        let max = cfg.max_states.max(1);
        // Average load at most 2 of 8 ways when full: a full bucket is rare.
        let n = (max / 2).max(4).next_power_of_two();
        let buckets: Box<[Bucket]> = (0..n).map(|_| Bucket::default()).collect();
        StateTable {
            buckets,
            mask: n - 1,
            seed: if cfg.hash_seed != 0 {
                cfg.hash_seed
            } else {
                RandomState::new().hash_one(0x5eed_u64)
            },
            max,
            lifetimes: cfg.lifetimes,
            live: AtomicUsize::new(0),
            created: AtomicU64::new(0),
            full_drops: AtomicU64::new(0),
            limit_drops: AtomicU64::new(0),
        }
    }

    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }

    pub fn capacity(&self) -> usize {
        self.max
    }

    pub fn stats(&self) -> StateStats {
        StateStats {
            live: self.live.load(Ordering::Relaxed),
            created: self.created.load(Ordering::Relaxed),
            full_drops: self.full_drops.load(Ordering::Relaxed),
            limit_drops: self.limit_drops.load(Ordering::Relaxed),
        }
    }

    /// States present (including expired ones not yet swept).
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of memory held by the table.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets)
    }

    /// Direction-independent hash, so that both directions of a flow land in
    /// the same bucket: each end (address, port) is hashed alone under the
    /// secret seed and the two are added, which does not care about their
    /// order; one full mix of the sum, the protocol and `extra` spreads it over
    /// buckets and fingerprints. (Sorting the ends and mixing five words, as
    /// before, was ~70 instructions a lookup; this is about half.)
    fn hash(&self, k: &FlowKey, extra: u64) -> u64 {
        let end = |addr: u128, port: u16| {
            // An IPv4 address sits in the low word, the port above it; an IPv6
            // address's high word is multiplied in first so that its bits reach
            // the low ones.
            let w = (addr as u64 ^ ((addr >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
                ^ (port as u64) << 40
                ^ self.seed;
            let w = (w ^ w >> 29).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            w ^ w >> 32
        };
        let ends = end(k.src, k.sport).wrapping_add(end(k.dst, k.dport));
        mix(ends ^ (k.proto as u64) << 8 ^ (k.family == Family::V6) as u64 ^ extra << 16)
    }

    fn fingerprint(h: u64) -> u32 {
        (h >> 32) as u32 | 1
    }

    fn lock(&self, b: &Bucket) -> u32 {
        loop {
            let s = b.seq.load(Ordering::Relaxed);
            if s & 1 == 0
                && b.seq
                    .compare_exchange_weak(
                        s,
                        s.wrapping_add(1),
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                fence(Ordering::Release);
                return s;
            }
            std::hint::spin_loop();
        }
    }

    fn unlock(&self, b: &Bucket, s: u32) {
        b.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    fn key_matches(slot: &Slot, k: &FlowKey) -> bool {
        Self::ends_match(slot, k.src, k.dst)
    }

    fn ends_match(slot: &Slot, src: u128, dst: u128) -> bool {
        slot.w[W_SRC_HI].load(Ordering::Relaxed) == (src >> 64) as u64
            && slot.w[W_SRC_LO].load(Ordering::Relaxed) == src as u64
            && slot.w[W_DST_HI].load(Ordering::Relaxed) == (dst >> 64) as u64
            && slot.w[W_DST_LO].load(Ordering::Relaxed) == dst as u64
    }

    fn write_key(slot: &Slot, k: &FlowKey) {
        slot.w[W_SRC_HI].store((k.src >> 64) as u64, Ordering::Relaxed);
        slot.w[W_SRC_LO].store(k.src as u64, Ordering::Relaxed);
        slot.w[W_DST_HI].store((k.dst >> 64) as u64, Ordering::Relaxed);
        slot.w[W_DST_LO].store(k.dst as u64, Ordering::Relaxed);
    }

    /// Starts loading the head of the bucket (sequence and fingerprints) where
    /// this flow's state is or would be, ahead of its lookup: with tens of
    /// thousands of flows the table is megabytes and each lookup's bucket is
    /// a miss to memory; a burst's prefetches overlap them. The state's own line
    /// is known only after the fingerprints are read.
    #[inline]
    pub fn prefetch(&self, k: &FlowKey) {
        let h = self.hash(k, 0);
        prefetch(&self.buckets[h as usize & self.mask]);
    }

    /// Looks a packet's flow up, without locking. On a hit the state is
    /// refreshed (TCP flags, expiry) as ipfw does for every matching packet.
    pub(crate) fn lookup(&self, p: &PacketMeta, sel: FlowMatch, now_ms: u64) -> Option<StateHit> {
        let k = FlowKey::of(p);
        let h = self.hash(&k, 0);
        let fp = Self::fingerprint(h);
        let b = &self.buckets[h as usize & self.mask];
        let now_s = (now_ms / 1000) as u32;
        let fwd_meta = meta_word(false, &k, 0) & !0xffff;
        // The reply's meta word: the same with the ports swapped (built from the
        // forward one rather than from a reversed copy of the key).
        let ports = 0xffff_ffff << 16;
        let rev_meta = fwd_meta & !ports | (k.dport as u64) << 32 | (k.sport as u64) << 16;
        let (way, hit, st) = 'retry: loop {
            let s1 = b.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut found = None;
            for (i, f) in b.fp.iter().enumerate() {
                if f.load(Ordering::Relaxed) != fp {
                    continue;
                }
                let slot = &b.slots[i];
                let meta = slot.w[W_META].load(Ordering::Relaxed);
                let flow = meta as u16;
                if let FlowMatch::Id(id) = sel {
                    if flow != id {
                        continue;
                    }
                }
                let forward = if meta & !0xffff == fwd_meta && Self::ends_match(slot, k.src, k.dst)
                {
                    true
                } else if meta & !0xffff == rev_meta && Self::ends_match(slot, k.dst, k.src) {
                    false
                } else {
                    continue;
                };
                let st = slot.w[W_STATE].load(Ordering::Relaxed);
                if st_expire(st) <= now_s {
                    continue;
                }
                let rule = slot.w[W_RULE].load(Ordering::Relaxed);
                found = Some((
                    i,
                    StateHit {
                        rule_id: (rule >> 32) as u32,
                        rule_number: (rule >> 16) as u16,
                        forward,
                    },
                    st,
                ));
                break;
            }
            fence(Ordering::Acquire);
            if b.seq.load(Ordering::Relaxed) != s1 {
                continue 'retry;
            }
            match found {
                Some(f) => break f,
                None => return None,
            }
        };
        self.refresh(&b.slots[way], st, &k, p.tcp_flags, hit.forward, now_s);
        Some(hit)
    }

    fn refresh(&self, slot: &Slot, mut st: u64, k: &FlowKey, th: u8, forward: bool, now_s: u32) {
        loop {
            let (flags, expire) = self.next_state(k.proto, st_flags(st), th, forward, now_s);
            let new = state_word(st_gen(st), flags, expire);
            if new == st {
                return;
            }
            match slot.w[W_STATE].compare_exchange(st, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(cur) if st_gen(cur) == st_gen(st) => st = cur,
                Err(_) => return, // the slot was reused meanwhile
            }
        }
    }

    fn next_state(&self, proto_: u8, flags: u8, th: u8, forward: bool, now_s: u32) -> (u8, u32) {
        let lt = &self.lifetimes;
        match proto_ {
            proto::TCP => {
                let (f, life) = tcp_next(flags, th, forward, lt);
                (f, now_s.saturating_add(life))
            }
            proto::UDP => (flags, now_s.saturating_add(lt.udp)),
            _ => (flags, now_s.saturating_add(lt.other)),
        }
    }

    /// Removes the entry in `way` of a locked bucket, releasing its parent.
    fn release(&self, b: &Bucket, way: usize) {
        let slot = &b.slots[way];
        let meta = slot.w[W_META].load(Ordering::Relaxed);
        if meta & META_VALID == 0 {
            return;
        }
        if meta & META_PARENT == 0 {
            let aux = slot.w[W_AUX].load(Ordering::Relaxed);
            if aux != 0 {
                let idx = (aux >> 32) as usize - 1;
                let gen = aux as u32;
                let pb = &self.buckets[idx / WAYS];
                let ps = &pb.slots[idx % WAYS];
                if st_gen(ps.w[W_STATE].load(Ordering::Relaxed)) == gen {
                    ps.w[W_AUX].fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        b.fp[way].store(0, Ordering::Relaxed);
        slot.w[W_META].store(0, Ordering::Relaxed);
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether the entry in `way` may be reused at `now_s`.
    fn reusable(b: &Bucket, way: usize, now_s: u32) -> bool {
        let slot = &b.slots[way];
        let meta = slot.w[W_META].load(Ordering::Relaxed);
        if meta & META_VALID == 0 {
            return true;
        }
        if meta & META_PARENT != 0 {
            slot.w[W_AUX].load(Ordering::Relaxed) == 0
        } else {
            st_expire(slot.w[W_STATE].load(Ordering::Relaxed)) <= now_s
        }
    }

    /// Takes a free way of a locked bucket, reclaiming an expired one.
    fn free_way(&self, b: &Bucket, now_s: u32) -> Option<usize> {
        let way =
            (0..WAYS).find(|&i| b.slots[i].w[W_META].load(Ordering::Relaxed) & META_VALID == 0);
        if way.is_some() {
            return way;
        }
        let way = (0..WAYS).find(|&i| Self::reusable(b, i, now_s))?;
        self.release(b, way);
        Some(way)
    }

    fn reserve(&self) -> bool {
        if self.live.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.live.fetch_sub(1, Ordering::Relaxed);
            false
        } else {
            true
        }
    }

    /// Finds or creates the `limit` parent for `pk` and takes one of its `n`
    /// places. Returns the parent's (index + 1, generation).
    fn limit_acquire(
        &self,
        pk: &FlowKey,
        rule_id: u32,
        rule_number: u16,
        n: u32,
        now_s: u32,
    ) -> Result<(u32, u32), StateError> {
        let h = self.hash(pk, rule_id as u64 | 1 << 40);
        let fp = Self::fingerprint(h);
        let bi = h as usize & self.mask;
        let b = &self.buckets[bi];
        let meta = meta_word(true, pk, 0);
        let s = self.lock(b);
        let mut way = None;
        for i in 0..WAYS {
            let slot = &b.slots[i];
            if b.fp[i].load(Ordering::Relaxed) == fp
                && slot.w[W_META].load(Ordering::Relaxed) == meta
                && (slot.w[W_RULE].load(Ordering::Relaxed) >> 32) as u32 == rule_id
                && Self::key_matches(slot, pk)
            {
                way = Some(i);
                break;
            }
        }
        let res = match way {
            Some(i) => {
                let slot = &b.slots[i];
                let count = slot.w[W_AUX].load(Ordering::Relaxed);
                if count >= n as u64 {
                    Err(StateError::Limit)
                } else {
                    slot.w[W_AUX].store(count + 1, Ordering::Relaxed);
                    Ok((
                        (bi * WAYS + i + 1) as u32,
                        st_gen(slot.w[W_STATE].load(Ordering::Relaxed)),
                    ))
                }
            }
            None => match self.free_way(b, now_s) {
                Some(i) if self.reserve() => {
                    let slot = &b.slots[i];
                    let gen = st_gen(slot.w[W_STATE].load(Ordering::Relaxed)).wrapping_add(1);
                    Self::write_key(slot, pk);
                    slot.w[W_RULE].store(
                        (rule_id as u64) << 32 | (rule_number as u64) << 16,
                        Ordering::Relaxed,
                    );
                    slot.w[W_STATE].store(state_word(gen, 0, u32::MAX), Ordering::Relaxed);
                    slot.w[W_AUX].store(1, Ordering::Relaxed);
                    slot.w[W_META].store(meta, Ordering::Relaxed);
                    b.fp[i].store(fp, Ordering::Relaxed);
                    Ok(((bi * WAYS + i + 1) as u32, gen & 0xff_ffff))
                }
                _ => Err(StateError::Full),
            },
        };
        self.unlock(b, s);
        res
    }

    fn limit_release(&self, parent: (u32, u32)) {
        let idx = parent.0 as usize - 1;
        let ps = &self.buckets[idx / WAYS].slots[idx % WAYS];
        if st_gen(ps.w[W_STATE].load(Ordering::Relaxed)) == parent.1 {
            ps.w[W_AUX].fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Creates the state of a packet's flow for rule (`rule_id`, `rule_number`)
    /// (ipfw's install_state). An existing state for the flow is left as it is.
    /// `limit`: (fields, N) of a `limit` rule.
    pub(crate) fn insert(
        &self,
        p: &PacketMeta,
        flow: u16,
        rule_id: u32,
        rule_number: u16,
        limit: Option<(u8, u32)>,
        now_ms: u64,
    ) -> Result<(), StateError> {
        let r = self.insert_inner(p, flow, rule_id, rule_number, limit, now_ms);
        match r {
            Ok(true) => {
                self.created.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => {}
            Err(StateError::Full) => {
                self.full_drops.fetch_add(1, Ordering::Relaxed);
            }
            Err(StateError::Limit) => {
                self.limit_drops.fetch_add(1, Ordering::Relaxed);
            }
        }
        r.map(|_| ())
    }

    fn insert_inner(
        &self,
        p: &PacketMeta,
        flow: u16,
        rule_id: u32,
        rule_number: u16,
        limit: Option<(u8, u32)>,
        now_ms: u64,
    ) -> Result<bool, StateError> {
        use crate::ast::limit_fields as lf;
        let now_s = (now_ms / 1000) as u32;
        let k = FlowKey::of(p);
        let h = self.hash(&k, 0);
        let fp = Self::fingerprint(h);
        let b = &self.buckets[h as usize & self.mask];
        let fwd_meta = meta_word(false, &k, flow);
        let rev = k.reversed();
        let rev_meta = meta_word(false, &rev, flow);
        // Already there (another worker, or a state of the other direction)?
        let exists = |b: &Bucket| {
            (0..WAYS).any(|i| {
                let slot = &b.slots[i];
                let m = slot.w[W_META].load(Ordering::Relaxed);
                b.fp[i].load(Ordering::Relaxed) == fp
                    && st_expire(slot.w[W_STATE].load(Ordering::Relaxed)) > now_s
                    && (m == fwd_meta && Self::key_matches(slot, &k)
                        || m == rev_meta && Self::key_matches(slot, &rev))
            })
        };
        // Limit parent first (its own bucket; never two buckets locked at once).
        let mut parent = None;
        if let Some((fields, n)) = limit {
            let pk = FlowKey {
                family: k.family,
                proto: k.proto,
                src: if fields & lf::SRC_ADDR != 0 { k.src } else { 0 },
                dst: if fields & lf::DST_ADDR != 0 { k.dst } else { 0 },
                sport: if fields & lf::SRC_PORT != 0 {
                    k.sport
                } else {
                    0
                },
                dport: if fields & lf::DST_PORT != 0 {
                    k.dport
                } else {
                    0
                },
            };
            // Do not count an existing flow twice.
            let s = self.lock(b);
            let there = exists(b);
            self.unlock(b, s);
            if there {
                return Ok(false);
            }
            parent = Some(self.limit_acquire(&pk, rule_id, rule_number, n, now_s)?);
        }
        let s = self.lock(b);
        let res = if exists(b) {
            Ok(false)
        } else {
            match self.free_way(b, now_s) {
                Some(i) if self.reserve() => {
                    let slot = &b.slots[i];
                    let gen = st_gen(slot.w[W_STATE].load(Ordering::Relaxed)).wrapping_add(1);
                    let (flags, expire) = self.next_state(k.proto, 0, p.tcp_flags, true, now_s);
                    Self::write_key(slot, &k);
                    slot.w[W_RULE].store(
                        (rule_id as u64) << 32 | (rule_number as u64) << 16,
                        Ordering::Relaxed,
                    );
                    slot.w[W_STATE].store(state_word(gen, flags, expire), Ordering::Relaxed);
                    slot.w[W_AUX].store(
                        parent.map_or(0, |(i, g)| (i as u64) << 32 | g as u64),
                        Ordering::Relaxed,
                    );
                    slot.w[W_META].store(fwd_meta, Ordering::Relaxed);
                    b.fp[i].store(fp, Ordering::Relaxed);
                    Ok(true)
                }
                _ => Err(StateError::Full),
            }
        };
        self.unlock(b, s);
        if !matches!(res, Ok(true)) {
            if let Some(pr) = parent {
                self.limit_release(pr);
            }
        }
        res
    }

    /// Removes the entries `remove` selects, flows before `limit` parents.
    fn sweep(&self, mut remove: impl FnMut(&Slot, u64, u32) -> bool, now_s: u32) -> usize {
        let mut removed = 0;
        for pass_parents in [false, true] {
            for b in self.buckets.iter() {
                let candidate = |i: usize| {
                    let slot = &b.slots[i];
                    let meta = slot.w[W_META].load(Ordering::Relaxed);
                    meta & META_VALID != 0 && (meta & META_PARENT != 0) == pass_parents
                };
                if !(0..WAYS).any(|i| b.fp[i].load(Ordering::Relaxed) != 0 && candidate(i)) {
                    continue;
                }
                let s = self.lock(b);
                for i in 0..WAYS {
                    if !candidate(i) {
                        continue;
                    }
                    let slot = &b.slots[i];
                    let meta = slot.w[W_META].load(Ordering::Relaxed);
                    let rule_id = (slot.w[W_RULE].load(Ordering::Relaxed) >> 32) as u32;
                    let go = if pass_parents {
                        // A parent goes when its last flow went, whatever `remove` says.
                        slot.w[W_AUX].load(Ordering::Relaxed) == 0
                    } else {
                        remove(slot, meta, rule_id)
                            || st_expire(slot.w[W_STATE].load(Ordering::Relaxed)) <= now_s
                    };
                    if go {
                        self.release(b, i);
                        removed += 1;
                    }
                }
                self.unlock(b, s);
            }
        }
        removed
    }

    /// Removes the states expired at `now_ms`; returns how many went.
    pub fn expire(&self, now_ms: u64) -> usize {
        self.sweep(|_, _, _| false, (now_ms / 1000) as u32)
    }

    /// Removes the states of rules `keep` rejects (rules deleted from the rule
    /// set), as ipfw does when a rule is deleted.
    pub fn retain_rules(&self, mut keep: impl FnMut(u32) -> bool) -> usize {
        self.sweep(|_, _, id| !keep(id), 0)
    }

    /// Removes every state.
    pub fn flush(&self) -> usize {
        self.sweep(|_, _, _| true, 0)
    }

    /// The states present (for `show -d`), in no particular order.
    pub fn snapshot(&self, now_ms: u64) -> Vec<StateInfo> {
        let now_s = (now_ms / 1000) as u32;
        let mut out = Vec::new();
        for (bi, b) in self.buckets.iter().enumerate() {
            let s = self.lock(b);
            for i in 0..WAYS {
                let slot = &b.slots[i];
                let meta = slot.w[W_META].load(Ordering::Relaxed);
                if meta & META_VALID == 0 {
                    continue;
                }
                let w = |j: usize| slot.w[j].load(Ordering::Relaxed) as u128;
                let key = FlowKey {
                    family: if meta & META_V6 != 0 {
                        Family::V6
                    } else {
                        Family::V4
                    },
                    proto: (meta >> 48) as u8,
                    src: w(W_SRC_HI) << 64 | w(W_SRC_LO),
                    dst: w(W_DST_HI) << 64 | w(W_DST_LO),
                    sport: (meta >> 32) as u16,
                    dport: (meta >> 16) as u16,
                };
                let rule = slot.w[W_RULE].load(Ordering::Relaxed);
                let st = slot.w[W_STATE].load(Ordering::Relaxed);
                let parent = meta & META_PARENT != 0;
                out.push(StateInfo {
                    key,
                    rule_id: (rule >> 32) as u32,
                    rule_number: (rule >> 16) as u16,
                    flow_id: meta as u16,
                    expires_in_s: if parent {
                        u32::MAX
                    } else {
                        st_expire(st).saturating_sub(now_s)
                    },
                    parent: parent.then(|| slot.w[W_AUX].load(Ordering::Relaxed) as u32),
                });
                let _ = bi;
            }
            self.unlock(b, s);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn pkt(a: u8, b: u8, sp: u16, dp: u16, flags: u8) -> PacketMeta {
        PacketMeta::v4(
            Ipv4Addr::new(10, 0, 0, a),
            Ipv4Addr::new(10, 0, 1, b),
            proto::TCP,
        )
        .with_ports(sp, dp)
        .with_tcp_flags(flags)
    }

    fn udp(a: u8, sp: u16) -> PacketMeta {
        PacketMeta::v4(
            Ipv4Addr::new(10, 0, 0, a),
            Ipv4Addr::new(10, 0, 1, 1),
            proto::UDP,
        )
        .with_ports(sp, 53)
    }

    fn reply(p: &PacketMeta, flags: u8) -> PacketMeta {
        PacketMeta {
            src: p.dst,
            dst: p.src,
            sport: p.dport,
            dport: p.sport,
            tcp_flags: flags,
            ..*p
        }
    }

    #[test]
    fn tcp_lifetimes_follow_ipfw() {
        let t = StateTable::new(StateConfig::default());
        let syn = pkt(1, 1, 1000, 80, tcp::SYN);
        t.insert(&syn, 0, 7, 100, None, 0).unwrap();
        // SYN only: 20 s.
        assert!(t.lookup(&syn, FlowMatch::Id(0), 19_999).is_some());
        assert!(t.lookup(&syn, FlowMatch::Id(0), 20_000 + 19_000).is_none());
        // Re-create and go established: 300 s from the last packet.
        let t = StateTable::new(StateConfig::default());
        t.insert(&syn, 0, 7, 100, None, 0).unwrap();
        let hit = t
            .lookup(&reply(&syn, tcp::SYN | tcp::ACK), FlowMatch::Id(0), 1000)
            .unwrap();
        assert_eq!(
            hit,
            StateHit {
                rule_id: 7,
                rule_number: 100,
                forward: false
            }
        );
        assert!(
            t.lookup(&syn.with_tcp_flags(tcp::ACK), FlowMatch::Id(0), 2000)
                .unwrap()
                .forward
        );
        assert!(t.lookup(&syn, FlowMatch::Id(0), 2000 + 299_000).is_some());
        // One FIN: still ack lifetime; both FINs: 1 s.
        let now = 2000 + 299_000;
        t.lookup(
            &syn.with_tcp_flags(tcp::FIN | tcp::ACK),
            FlowMatch::Id(0),
            now,
        )
        .unwrap();
        assert!(t
            .lookup(
                &syn.with_tcp_flags(tcp::ACK),
                FlowMatch::Id(0),
                now + 200_000
            )
            .is_some());
        let now = now + 200_000;
        t.lookup(&reply(&syn, tcp::FIN | tcp::ACK), FlowMatch::Id(0), now)
            .unwrap();
        assert!(t
            .lookup(&syn.with_tcp_flags(tcp::ACK), FlowMatch::Id(0), now + 999)
            .is_some());
        assert!(t
            .lookup(
                &syn.with_tcp_flags(tcp::ACK),
                FlowMatch::Id(0),
                now + 999 + 1000
            )
            .is_none());
        // RST: 1 s.
        let t = StateTable::new(StateConfig::default());
        t.insert(&syn, 0, 7, 100, None, 0).unwrap();
        t.lookup(&reply(&syn, tcp::RST), FlowMatch::Id(0), 500)
            .unwrap();
        assert!(t.lookup(&syn, FlowMatch::Id(0), 1500).is_none());
    }

    #[test]
    fn udp_and_other_lifetimes() {
        let t = StateTable::new(StateConfig::default());
        let u = udp(1, 5000);
        t.insert(&u, 0, 1, 10, None, 0).unwrap();
        assert!(t.lookup(&reply(&u, 0), FlowMatch::Id(0), 4_999).is_some());
        // Refreshed at 4.999 s: alive until 9 s.
        assert!(t.lookup(&u, FlowMatch::Id(0), 8_999).is_some());
        assert!(t.lookup(&u, FlowMatch::Id(0), 14_000).is_none());
        let icmp = PacketMeta::v4(
            Ipv4Addr::new(1, 1, 1, 1),
            Ipv4Addr::new(2, 2, 2, 2),
            proto::ICMP,
        );
        t.insert(&icmp, 0, 1, 10, None, 0).unwrap();
        assert!(t.lookup(&icmp, FlowMatch::Id(0), 29_999).is_some());
        assert!(t.lookup(&icmp, FlowMatch::Id(0), 29_999 + 30_000).is_none());
    }

    #[test]
    fn flow_names_and_any() {
        let t = StateTable::new(StateConfig::default());
        let u = udp(1, 5000);
        t.insert(&u, 3, 1, 10, None, 0).unwrap();
        assert!(t.lookup(&u, FlowMatch::Id(0), 0).is_none());
        assert!(t.lookup(&u, FlowMatch::Id(3), 0).is_some());
        assert!(t.lookup(&u, FlowMatch::Any, 0).is_some());
    }

    #[test]
    fn full_table_refuses_and_counts() {
        let t = StateTable::new(StateConfig {
            max_states: 16,
            ..StateConfig::default()
        });
        let mut ok = 0;
        for i in 0..100u16 {
            if t.insert(&udp(1, 1000 + i), 0, 1, 10, None, 0).is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 16);
        assert_eq!(t.len(), 16);
        assert_eq!(t.stats().full_drops, 84);
        // After they expire and are swept there is room again.
        assert_eq!(t.expire(10_000), 16);
        assert!(t.is_empty());
        assert!(t.insert(&udp(1, 1), 0, 1, 10, None, 10_000).is_ok());
    }

    #[test]
    fn limit_counts_connections_per_source() {
        use crate::ast::limit_fields::SRC_ADDR;
        let t = StateTable::new(StateConfig::default());
        for i in 0..4u16 {
            t.insert(
                &pkt(1, 1, 1000 + i, 80, tcp::SYN),
                0,
                9,
                100,
                Some((SRC_ADDR, 4)),
                0,
            )
            .unwrap();
        }
        assert_eq!(
            t.insert(
                &pkt(1, 1, 2000, 80, tcp::SYN),
                0,
                9,
                100,
                Some((SRC_ADDR, 4)),
                0
            ),
            Err(StateError::Limit)
        );
        // Another source has its own 4; an existing flow is not counted twice.
        t.insert(
            &pkt(2, 1, 2000, 80, tcp::SYN),
            0,
            9,
            100,
            Some((SRC_ADDR, 4)),
            0,
        )
        .unwrap();
        t.insert(
            &pkt(1, 1, 1000, 80, tcp::SYN),
            0,
            9,
            100,
            Some((SRC_ADDR, 4)),
            0,
        )
        .unwrap();
        // When the flows expire, the places come back.
        t.expire(25_000);
        assert!(t.is_empty(), "{:?}", t.snapshot(25_000));
        t.insert(
            &pkt(1, 1, 2000, 80, tcp::SYN),
            0,
            9,
            100,
            Some((SRC_ADDR, 4)),
            25_000,
        )
        .unwrap();
        assert_eq!(t.stats().limit_drops, 1);
    }

    /// Both directions of a flow hash alike, and flows that differ only in a
    /// port (the traffic of one busy host) or only in an IPv6 address's high
    /// word spread over the buckets: the fullest of 4,096 buckets holds at
    /// most 16 of 16,384 flows (4 on average, ~12 expected; a hash that ignored a field
    /// would put them all in one), and the same holds under another seed.
    #[test]
    fn the_flow_hash_is_symmetric_and_spreads_ports_and_addresses() {
        for seed in [1u64, 0x5eed_0000_1234_5678] {
            let t = StateTable::new(StateConfig {
                max_states: 8192,
                hash_seed: seed,
                ..StateConfig::default()
            });
            let buckets = t.mask + 1;
            assert_eq!(buckets, 4096);
            let by_port = (0..16384u32).map(|i| {
                let p = PacketMeta::v4(
                    Ipv4Addr::new(198, 51, 100, 7),
                    Ipv4Addr::new(192, 0, 2, 1),
                    proto::UDP,
                );
                p.with_ports(1024 + (i % 60000) as u16, 53 + (i / 60000) as u16)
            });
            let by_high_word = (0..16384u32).map(|i| {
                let mut p = PacketMeta::v4(
                    Ipv4Addr::new(10, 0, 0, 1),
                    Ipv4Addr::new(10, 0, 0, 2),
                    proto::TCP,
                )
                .with_ports(80, 443);
                p.family = Family::V6;
                p.src = (0x2001_0db8_0000_0000u128 | i as u128) << 64 | 1;
                p
            });
            for flows in [by_port.collect::<Vec<_>>(), by_high_word.collect()] {
                let mut load = vec![0u32; buckets];
                for p in &flows {
                    let k = FlowKey::of(p);
                    let h = t.hash(&k, 0);
                    assert_eq!(h, t.hash(&k.reversed(), 0), "direction-independent");
                    load[h as usize & t.mask] += 1;
                }
                let fullest = load.iter().max().copied().unwrap_or(0);
                assert!(fullest <= 16, "fullest bucket {fullest} (seed {seed:#x})");
            }
        }
    }

    #[test]
    fn retain_and_flush() {
        let t = StateTable::new(StateConfig::default());
        t.insert(&udp(1, 1), 0, 1, 10, None, 0).unwrap();
        t.insert(&udp(1, 2), 0, 2, 20, None, 0).unwrap();
        assert_eq!(t.retain_rules(|id| id == 2), 1);
        assert_eq!(t.snapshot(0).len(), 1);
        assert_eq!(t.flush(), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn concurrent_lookups_and_inserts() {
        let t = std::sync::Arc::new(StateTable::new(StateConfig {
            max_states: 4096,
            ..StateConfig::default()
        }));
        let hs: Vec<_> = (0..4u16)
            .map(|w| {
                let t = std::sync::Arc::clone(&t);
                std::thread::spawn(move || {
                    for i in 0..500u16 {
                        let p = udp(w as u8, i);
                        t.insert(&p, 0, 1, 10, None, 0).unwrap();
                        assert!(t.lookup(&reply(&p, 0), FlowMatch::Id(0), 0).is_some());
                        // Another worker's flows are visible too.
                        let _ = t.lookup(&udp(((w + 1) % 4) as u8, i), FlowMatch::Id(0), 0);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(t.len(), 2000);
    }
}
