//! A window's messages prepared in parallel and taken in order: the one
//! copy of the pattern that a conversion's commit ([`super::run`]) and
//! `dkim verify` over an archive (`crate::dkim::archive`) share.
//!
//! Workers on rayon's pool take batches of consecutive items, in item
//! order, each batch by the next free worker, and send what they made to
//! the calling thread, which hands each result to `record` as soon as it
//! and every result before it are in. Two shapes this replaces, and why:
//!
//! - A parallel iterator splits its input in halves: the caller could only
//!   take a result once every one before it was in, so the second half's
//!   results waited for the window's end, and the caller then did all of
//!   them while the workers idled at the window's barrier. In order, the
//!   caller keeps pace and the barrier costs at most a batch.
//! - Collecting the window and then recording it (what `dkim verify` did)
//!   left the workers idle for the recording and for the read of the next
//!   window, and one of them idle at the barrier while the other ended
//!   its last piece of the split: about 4 ms at the one window boundary
//!   of a `-j2` run over 5,000 signed messages (a perf timeline; 99 ms
//!   under perf, 62 ms without).
//!
//! `after` runs on the pool once every batch is taken: the caller reads
//! its next window there, while the last batches finish.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// A job for the pool once every batch of the window is taken.
pub(crate) type After<'s> = Box<dyn FnOnce() + Send + 's>;

/// A batch's number and what was made of it, or the panic that stopped it.
type Made<T> = (usize, std::thread::Result<Vec<T>>);

/// Maps `items` with `prepare(index, item)` on rayon's pool, `batch`
/// items at a time, and calls `record(index, result)` on this thread in
/// item order. Stops at the first error of `record`: no more batches are
/// taken, and the error is returned once the batches already taken end.
/// A panic in `prepare` is raised again here.
///
/// Called on a thread of the pool itself (a run inside
/// `ThreadPool::install`, as Python's `convert(jobs=N)` runs), this thread
/// must not wait while batches sit in the pool's queues, perhaps in its
/// own (with one thread, all of them: a run hung there): whenever no batch
/// is in, it makes the next one itself, and it waits only once every
/// batch is taken, each by a job that is running and will send it.
pub(crate) fn map_in_order<'s, I, T, E>(
    items: &'s [I],
    batch: usize,
    prepare: impl Fn(usize, &'s I) -> T + Sync,
    after: Vec<After<'s>>,
    mut record: impl FnMut(usize, T) -> Result<(), E>,
) -> Result<(), E>
where
    I: Sync,
    T: Send,
{
    let batch = batch.max(1);
    let chunks = items.len().div_ceil(batch);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Made<T>>();
    let make = |c: usize| -> Vec<T> {
        let first = c * batch;
        items[first..(first + batch).min(items.len())]
            .iter()
            .enumerate()
            .map(|(k, item)| prepare(first + k, item))
            .collect()
    };
    let (next, stop_ref, make) = (&next, &stop, &make);
    let on_pool = rayon::current_thread_index().is_some();
    rayon::in_place_scope(|scope| {
        for _ in 0..rayon::current_num_threads().min(chunks) {
            let tx = tx.clone();
            scope.spawn(move |_| loop {
                // After a failure the rest is not wanted; the receiver may
                // be gone.
                if stop_ref.load(Ordering::Relaxed) {
                    return;
                }
                let c = next.fetch_add(1, Ordering::Relaxed);
                if c >= chunks {
                    return;
                }
                // A panic goes to the caller with the batch's number, so a
                // caller waiting for that batch never waits for nothing.
                let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| make(c)));
                let failed = made.is_err();
                if tx.send((c, made)).is_err() || failed {
                    return;
                }
            });
        }
        drop(tx);
        // Queued after the workers' jobs: a worker takes them once it
        // finds no batch left.
        for job in after {
            scope.spawn(move |_| job());
        }
        // The next batch in: sent, or (on a thread of the pool, with none
        // sent yet) made here.
        let receive = || -> Option<Made<T>> {
            if on_pool {
                match rx.try_recv() {
                    Ok(m) => return Some(m),
                    Err(mpsc::TryRecvError::Disconnected) => return None,
                    Err(mpsc::TryRecvError::Empty) => {
                        let c = next.fetch_add(1, Ordering::Relaxed);
                        if c < chunks {
                            return Some((c, Ok(make(c))));
                        }
                    }
                }
            }
            rx.recv().ok()
        };
        // Batches that came before their turn, by number: a slot per
        // batch, not per item (a window's worth of empty slots was
        // hundreds of KiB of fresh pages to fault in on this thread).
        let mut ready: Vec<Option<Vec<T>>> = (0..chunks).map(|_| None).collect();
        let mut at = 0;
        let mut take = || {
            while at < chunks {
                let Some((c, made)) = receive() else {
                    break;
                };
                let made = match made {
                    Ok(made) => made,
                    Err(panic) => {
                        stop_ref.store(true, Ordering::Relaxed);
                        std::panic::resume_unwind(panic);
                    }
                };
                ready[c] = Some(made);
                while let Some(made) = ready.get_mut(at).and_then(Option::take) {
                    for (k, t) in made.into_iter().enumerate() {
                        record(at * batch + k, t)?;
                    }
                    at += 1;
                }
            }
            Ok(())
        };
        let taken = take();
        if taken.is_err() {
            stop_ref.store(true, Ordering::Relaxed);
        }
        taken
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// Maps `0..len` by batches of `batch` with uneven costs, on the
    /// current pool; returns what was recorded and how often `after` ran.
    fn case(len: u64, batch: usize) -> (Vec<u64>, usize) {
        let items: Vec<u64> = (0..len).collect();
        let after_runs = Mutex::new(0);
        let mut seen = Vec::new();
        let r: Result<(), ()> = map_in_order(
            &items,
            batch,
            |k, &x| {
                // Uneven costs, so batches finish out of order.
                if x % 5 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
                (k, x * 3)
            },
            vec![Box::new(|| *after_runs.lock().unwrap() += 1)],
            |k, (pk, v)| {
                assert_eq!(k, pk);
                seen.push(v);
                Ok(())
            },
        );
        r.unwrap();
        let runs = *after_runs.lock().unwrap();
        (seen, runs)
    }

    /// `f` on a thread of its own, failing the test if it has not ended
    /// within a minute (a hang would otherwise hold the whole suite).
    fn within_a_minute(f: impl FnOnce() + Send + 'static) {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("map_in_order hung"),
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the case failed"),
        }
    }

    #[test]
    fn records_every_item_in_order_and_runs_after_once() {
        let cases = [(0, 4), (1, 1), (7, 3), (100, 1), (100, 64), (1000, 7)];
        // From a thread outside the pool (the CLI's main thread), and from
        // a thread of the pool (a run inside `install`, as Python's
        // `convert(jobs=N)`), with one thread too: all batches then sit
        // in the caller's own queue.
        within_a_minute(move || {
            for (len, batch) in cases {
                let (seen, runs) = case(len, batch);
                assert_eq!(seen, (0..len).map(|x| x * 3).collect::<Vec<_>>());
                assert_eq!(runs, 1);
            }
        });
        for threads in [1, 2, 4] {
            within_a_minute(move || {
                for (len, batch) in cases {
                    let (seen, runs) = pool(threads).install(|| case(len, batch));
                    let want: Vec<u64> = (0..len).map(|x| x * 3).collect();
                    assert_eq!(seen, want, "threads {threads} len {len} batch {batch}");
                    assert_eq!(runs, 1);
                }
            });
        }
    }

    #[test]
    fn an_error_stops_the_batches_and_is_returned() {
        let items: Vec<u32> = (0..10_000).collect();
        let prepared = AtomicUsize::new(0);
        let mut recorded = 0;
        let r = pool(2).install(|| {
            map_in_order(
                &items,
                4,
                |_, &x| {
                    prepared.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(std::time::Duration::from_micros(20));
                    x
                },
                Vec::new(),
                |_, x| {
                    if x == 100 {
                        return Err(format!("stop at {x}"));
                    }
                    recorded += 1;
                    Ok(())
                },
            )
        });
        assert_eq!(r, Err("stop at 100".to_string()));
        assert_eq!(recorded, 100);
        // The workers stopped taking batches soon after: far from all.
        assert!(prepared.load(Ordering::Relaxed) < 5_000);
    }

    #[test]
    fn a_panic_in_prepare_is_raised_again() {
        fn panics() -> bool {
            let items: Vec<u32> = (0..100).collect();
            std::panic::catch_unwind(|| {
                map_in_order(
                    &items,
                    3,
                    |_, &x| {
                        assert!(x != 50, "boom");
                        x
                    },
                    Vec::new(),
                    |_, _| Ok::<(), ()>(()),
                )
            })
            .is_err()
        }
        // Outside the pool, and on pools of one (the caller makes every
        // batch) and two threads.
        within_a_minute(|| assert!(panics()));
        for threads in [1, 2] {
            within_a_minute(move || assert!(pool(threads).install(panics)));
        }
    }
}
