//! Thread control. Heavy work (fit, batch recommend) runs on a rayon pool of
//! a chosen size; the environment variable [`THREADS_ENV`] caps it, so
//! `SIGHTLINE_NUM_THREADS=1` disables parallelism everywhere. Without the
//! `parallel` feature (the wasm build) everything runs on the caller's thread.

/// Environment variable capping the number of worker threads.
pub const THREADS_ENV: &str = "SIGHTLINE_NUM_THREADS";

/// The number of threads to use for a request of `requested` (0 = all
/// cores), capped by [`THREADS_ENV`] when set to a positive integer.
pub fn resolve_threads(requested: usize) -> usize {
    if !cfg!(feature = "parallel") {
        return 1;
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let wanted = if requested == 0 { cores } else { requested };
    let cap = std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    cap.map_or(wanted, |c| wanted.min(c)).max(1)
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
        // Only inside a pool made by `install`: outside one, rayon would
        // fall back to its global pool and ignore the requested count.
        if rayon::current_thread_index().is_some() && rayon::current_num_threads() > 1 {
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
        if rayon::current_thread_index().is_some() && rayon::current_num_threads() > 1 {
            return items.par_iter().map(f).collect();
        }
    }
    items.iter().map(f).collect()
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
}
