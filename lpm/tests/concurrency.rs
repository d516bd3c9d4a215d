//! Live updates with concurrent readers. One writer (`Fib4Writer`) publishes
//! generation after generation: each batch retags a hot tenth of the routes with the
//! generation number and, on odd generations, withdraws half of those (their covers
//! show through), re-announcing them on even ones. Reader threads look up all along
//! through `Fib4Reader`. Every answer a reader gets must be the one the reference
//! gives at the generation of the snapshot it holds: a snapshot is one generation,
//! never a half-applied batch, never garbage; and generations never go backwards.
//! The writer waits for a read after each generation, so readers meet many of them.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{span, Rng, Sorted};
use lpm::{Fib4, Fib4Writer, Update4, NO_ROUTE};

/// Low bits of a next hop: the generation; high bits: the route's index.
const GEN_BITS: u32 = 10;
const GEN_MASK: u32 = (1 << GEN_BITS) - 1;
const GENERATIONS: u32 = 150;
const READERS: usize = 3;
const ROUTES: usize = 20_000;
const KEYS: usize = 4096;

fn tag(i: usize, generation: u32) -> u32 {
    ((i as u32) << GEN_BITS) | generation
}

fn is_hot(i: usize) -> bool {
    i.is_multiple_of(10)
}

fn flaps(i: usize) -> bool {
    is_hot(i) && (i / 10).is_multiple_of(2)
}

/// The batch that turns generation `g - 1` into `g`.
fn batch(routes: &[(u128, u8, u32)], g: u32) -> Vec<Update4> {
    routes
        .iter()
        .enumerate()
        .filter(|&(i, _)| is_hot(i))
        .map(|(i, &(p, l, _))| {
            let p = Ipv4Addr::from(p as u32);
            if flaps(i) && g % 2 == 1 {
                Update4::Remove(p, l)
            } else {
                Update4::Insert(p, l, tag(i, g))
            }
        })
        .collect()
}

#[test]
fn readers_see_whole_generations_only() {
    // Distinct prefixes from a synthetic BGP-like table (nested and overlapping).
    let mut rng = Rng(17);
    let mut seen = BTreeSet::new();
    let routes: Vec<(u128, u8, u32)> = common::synthetic_routes(false, &mut rng)
        .into_iter()
        .filter(|&(p, l, _)| seen.insert((p, l)))
        .take(ROUTES)
        .collect();
    // Two references answering with the index of the longest matching route: all
    // routes (even generations) and without the withdrawn ones (odd generations).
    let indexed: Vec<_> = routes
        .iter()
        .enumerate()
        .map(|(i, &(p, l, _))| (p, l, i as u32))
        .collect();
    let even = Sorted::new(32, &indexed);
    let odd_routes: Vec<_> = indexed
        .iter()
        .copied()
        .filter(|&(_, _, i)| !flaps(i as usize))
        .collect();
    let odd = Sorted::new(32, &odd_routes);
    // Keys: three quarters inside hot routes, the rest anywhere in the table.
    let hot: Vec<usize> = (0..routes.len()).filter(|&i| is_hot(i)).collect();
    let keys: Vec<u32> = (0..KEYS)
        .map(|n| {
            let i = if n % 4 == 0 {
                rng.below(routes.len())
            } else {
                hot[rng.below(hot.len())]
            };
            let (p, l, _) = routes[i];
            let (first, last) = span(p, l, 32);
            (first + rng.next_u128() % (last - first + 1)) as u32
        })
        .collect();
    let want: Arc<Vec<[Option<u32>; 2]>> = Arc::new(
        keys.iter()
            .map(|&k| [even.lookup(u128::from(k)), odd.lookup(u128::from(k))])
            .collect(),
    );
    let keys = Arc::new(keys);

    let mut fib = Fib4::new();
    let load: Vec<_> = routes
        .iter()
        .enumerate()
        .map(|(i, &(p, l, _))| Update4::Insert(Ipv4Addr::from(p as u32), l, tag(i, 0)))
        .collect();
    fib.apply(&load).unwrap();
    let mut writer = Fib4Writer::new(fib);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (reader, stop, reads) = (writer.reader(), Arc::clone(&stop), Arc::clone(&reads));
            let (keys, want) = (Arc::clone(&keys), Arc::clone(&want));
            std::thread::spawn(move || {
                let mut out = vec![0u32; keys.len()];
                let mut last = 0u32;
                let mut generations = BTreeSet::new();
                while !stop.load(Ordering::Acquire) {
                    let scalar = reader.with(|snap| {
                        snap.lookup_batch(&keys, &mut out);
                        // The scalar path on the same snapshot, on a slice of keys.
                        let from = (r * 97) % keys.len();
                        keys[from..]
                            .iter()
                            .take(64)
                            .map(|&k| snap.lookup_u32(k))
                            .zip(from..)
                            .collect::<Vec<_>>()
                    });
                    // The snapshot's generation: that of any hot route answered.
                    let g = out
                        .iter()
                        .filter(|&&nh| nh != NO_ROUTE && is_hot((nh >> GEN_BITS) as usize))
                        .map(|&nh| nh & GEN_MASK)
                        .max()
                        .expect("hot keys always find a hot route or its cover");
                    assert!(
                        g >= last,
                        "reader {r}: generation went back from {last} to {g}"
                    );
                    last = g;
                    generations.insert(g);
                    let check = |i: usize, nh: u32| {
                        let expect = want[i][(g % 2) as usize].map(|idx| {
                            let idx = idx as usize;
                            tag(idx, if is_hot(idx) { g } else { 0 })
                        });
                        assert_eq!(
                            nh,
                            expect.unwrap_or(NO_ROUTE),
                            "reader {r}, generation {g}: key {} answered {nh:#x}",
                            Ipv4Addr::from(keys[i])
                        );
                    };
                    for (i, &nh) in out.iter().enumerate() {
                        check(i, nh);
                    }
                    for (nh, i) in scalar {
                        check(i, nh);
                    }
                    reads.fetch_add(1, Ordering::Release);
                }
                generations.len()
            })
        })
        .collect();
    for g in 1..=GENERATIONS {
        let before = reads.load(Ordering::Acquire);
        writer.apply(&batch(&routes, g)).unwrap();
        // Let the readers meet this generation before the next one.
        while reads.load(Ordering::Acquire) == before {
            if readers.iter().any(|h| h.is_finished()) {
                break; // a reader failed: its panic is reported by join below
            }
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Release);
    let seen: usize = readers
        .into_iter()
        .map(|h| h.join().expect("reader panicked"))
        .sum();
    assert!(
        seen >= GENERATIONS as usize / 2,
        "readers met only {seen} generations"
    );
    assert_eq!(writer.fib().len(), routes.len());
}
