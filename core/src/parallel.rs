//! Thread control. Heavy work (fit, batch recommend) runs on a rayon pool of
//! a chosen size; the environment variable [`THREADS_ENV`] caps it, so
//! `SIGHTLINE_NUM_THREADS=1` disables parallelism everywhere. Without the
//! `parallel` feature (the wasm build) everything runs on the caller's thread.

use crate::error::{Error, Result};

/// Environment variable capping the number of worker threads.
pub const THREADS_ENV: &str = "SIGHTLINE_NUM_THREADS";

/// The largest thread count a config may ask for. Above the hardware
/// threads of any current server (≤ 512) yet small enough that a pool of
/// this size starts in milliseconds (each thread reserves a stack): a
/// typo like `num_threads=10**6` is rejected instead of spawning a million
/// threads and hanging the host process.
pub const MAX_THREADS: usize = 1024;

/// Checks a requested thread count (0 = all cores) against
/// [`MAX_THREADS`]; the error names config field `field`.
pub fn check_threads(field: &str, requested: usize) -> Result<()> {
    if requested > MAX_THREADS {
        return Err(Error::config(
            field,
            format!("must be in 0..={MAX_THREADS} (0 = all cores), got {requested}"),
        ));
    }
    Ok(())
}

/// The number of threads to use for a request of `requested` (0 = all
/// cores), capped by [`THREADS_ENV`] when set to a positive integer and
/// always by [`MAX_THREADS`] (configs reject more; this guards direct calls).
pub fn resolve_threads(requested: usize) -> usize {
    if !cfg!(feature = "parallel") {
        return 1;
    }
    let wanted = if requested == 0 { cores() } else { requested };
    let cap = std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    cap.map_or(wanted, |c| wanted.min(c)).clamp(1, MAX_THREADS)
}

/// The thread count for `tasks` independent pieces of work at a request of
/// `requested` threads: [`resolve_threads`], but 1 (the caller's thread, no
/// pool hand-off) for a single task, and never more threads than tasks.
pub fn threads_for(requested: usize, tasks: usize) -> usize {
    if tasks <= 1 {
        return 1;
    }
    resolve_threads(requested).min(tasks)
}

/// The machine's hardware threads, asked once: `available_parallelism`
/// reads cgroup files on Linux (tens of microseconds), more than a whole
/// single-item query costs.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// Runs `f` with `threads` workers available to [`for_each_chunk`].
pub fn install<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    #[cfg(feature = "parallel")]
    {
        if threads > 1 {
            if let Some(pool) = pool(threads) {
                return pool.install(f);
            }
        }
    }
    let _ = threads;
    f()
}

/// One pool per thread count, made on first use: pools are reused so that
/// frequent small calls (e.g. batch recommend) do not spawn threads.
#[cfg(feature = "parallel")]
fn pool(threads: usize) -> Option<std::sync::Arc<rayon::ThreadPool>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&threads) {
        return Some(p.clone());
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .ok()?,
    );
    pools.insert(threads, p.clone());
    Some(p)
}

/// Calls `f(state, first_row, chunk)` for consecutive chunks of `rows_per_chunk`
/// rows of a row-major buffer with rows of `row_len` values, in parallel when
/// inside [`install`] with more than one thread. `init` makes one scratch
/// state per worker task, so hot loops allocate nothing per row.
pub fn for_each_chunk<T, S, I, F>(
    data: &mut [T],
    row_len: usize,
    rows_per_chunk: usize,
    init: I,
    f: F,
) where
    T: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [T]) + Sync + Send,
{
    let chunk = (row_len * rows_per_chunk).max(1);
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        if in_pool() {
            data.par_chunks_mut(chunk)
                .enumerate()
                .for_each_init(&init, |s, (c, block)| f(s, c * rows_per_chunk, block));
            return;
        }
    }
    let mut s = init();
    for (c, block) in data.chunks_mut(chunk).enumerate() {
        f(&mut s, c * rows_per_chunk, block);
    }
}

/// `f` applied to every element of `items`, in order; in parallel when
/// inside [`install`] with more than one thread.
pub fn map<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync + Send,
{
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        if in_pool() {
            return items.par_iter().map(f).collect();
        }
    }
    items.iter().map(f).collect()
}

/// `f` applied to every index of `range`, in order; in parallel when inside
/// [`install`] with more than one thread.
pub fn map_range<R, F>(range: std::ops::Range<usize>, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize) -> R + Sync + Send,
{
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        if range.len() > 1 && in_pool() {
            return range.into_par_iter().map(f).collect();
        }
    }
    range.map(f).collect()
}

/// Runs `f` on every task, consuming them; in parallel when inside
/// [`install`] with more than one thread.
pub fn for_each<T, F>(tasks: Vec<T>, f: F)
where
    T: Send,
    F: Fn(T) + Sync + Send,
{
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        if in_pool() {
            tasks.into_par_iter().for_each(f);
            return;
        }
    }
    tasks.into_iter().for_each(f);
}

/// True on a worker of a pool made by [`install`] with more than one
/// thread. Every parallel helper asks this first: outside such a pool,
/// rayon would fall back to its global pool and ignore the thread setting
/// (and `SIGHTLINE_NUM_THREADS=1`).
#[cfg(feature = "parallel")]
fn in_pool() -> bool {
    rayon::current_thread_index().is_some() && rayon::current_num_threads() > 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_all_rows_once() {
        for threads in [1, 2] {
            let mut data = vec![0u32; 3 * 101];
            install(threads, || {
                for_each_chunk(
                    &mut data,
                    3,
                    8,
                    || (),
                    |_, first, block| {
                        for (r, row) in block.chunks_mut(3).enumerate() {
                            row.iter_mut().for_each(|v| *v += (first + r) as u32);
                        }
                    },
                )
            });
            for (r, row) in data.chunks(3).enumerate() {
                assert!(row.iter().all(|&v| v == r as u32));
            }
        }
        assert!(resolve_threads(3) >= 1);
        assert_eq!(threads_for(0, 1), 1);
        assert_eq!(threads_for(8, 0), 1);
        assert!(threads_for(8, 2) <= 2);
        // One thread means the caller's thread, never rayon's global pool.
        let caller = std::thread::current().id();
        let mut ids = vec![None; 64];
        install(1, || {
            for_each_chunk(
                &mut ids,
                1,
                1,
                || (),
                |_, _, slot| slot[0] = Some(std::thread::current().id()),
            )
        });
        assert!(ids.iter().all(|&t| t == Some(caller)));
        let squares = install(2, || map(&[1, 2, 3, 4], |x| x * x));
        assert_eq!(squares, [1, 4, 9, 16]);
    }

    /// Which rayon worker (if any) ran each of 64 tasks, through every helper.
    fn workers() -> Vec<Option<usize>> {
        let here = || rayon_worker();
        let mut a = vec![None; 64];
        for_each_chunk(&mut a, 1, 1, || (), |_, _, s| s[0] = here());
        let b = map(&a, |_| here());
        let c = map_range(0..64, |_| here());
        let d = std::sync::Mutex::new(Vec::new());
        for_each((0..64).collect(), |_: usize| d.lock().unwrap().push(here()));
        [a, b, c, d.into_inner().unwrap()].concat()
    }

    fn rayon_worker() -> Option<usize> {
        #[cfg(feature = "parallel")]
        return rayon::current_thread_index();
        #[cfg(not(feature = "parallel"))]
        None
    }

    #[test]
    fn one_thread_or_no_pool_never_uses_a_rayon_worker() {
        // Outside `install` (where rayon's global pool would be used) and
        // with one thread, every task runs on the caller's thread.
        assert!(workers().iter().all(Option::is_none));
        assert!(install(1, workers).iter().all(Option::is_none));
        if cfg!(feature = "parallel") {
            assert!(install(2, workers).iter().all(Option::is_some));
        }
        let squares = install(2, || map_range(0..5, |i| i * i));
        assert_eq!(squares, [0, 1, 4, 9, 16]);
    }
}
