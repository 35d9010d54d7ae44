//! Buffers read in random order, such as the factor rows that ALS gathers.
//! On Linux they ask for transparent huge pages (`MADV_HUGEPAGE`).
//!
//! With 4 KiB pages, 50 MB of factors span 12,800 pages, which is far more
//! than a TLB holds, so nearly every random row read misses the TLB as well
//! as the cache. With 2 MiB pages they span 25. Elsewhere, or when the
//! kernel declines the advice, the buffer is an ordinary allocation.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// The huge page size asked for.
const HUGE: usize = 2 << 20;

/// A heap slice (fixed length) that is on huge pages when the platform
/// allows it. Only buffers of at least one huge page ask for them.
pub struct HugeSlice<T> {
    ptr: NonNull<T>,
    len: usize,
    layout: Layout,
}

// SAFETY: it owns its elements like a `Box<[T]>`.
unsafe impl<T: Send> Send for HugeSlice<T> {}
// SAFETY: it owns its elements like a `Box<[T]>`.
unsafe impl<T: Sync> Sync for HugeSlice<T> {}

impl<T: Copy> HugeSlice<T> {
    /// The slice of `f(i)` for `i` in `0..len`, written in order (the pages
    /// are asked for before they are first touched).
    pub fn from_fn(len: usize, mut f: impl FnMut(usize) -> T) -> Self {
        let bytes = len * std::mem::size_of::<T>();
        if bytes < HUGE || std::mem::align_of::<T>() > HUGE {
            let boxed: Box<[T]> = (0..len).map(f).collect();
            let layout = Layout::for_value(&*boxed);
            let ptr = NonNull::new(Box::into_raw(boxed).cast::<T>()).expect("box is non-null");
            return HugeSlice { ptr, len, layout };
        }
        let layout = Layout::from_size_align(bytes.div_ceil(HUGE) * HUGE, HUGE)
            .expect("a slice's size fits a layout");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else {
            handle_alloc_error(layout)
        };
        advise_huge(raw, layout.size());
        for i in 0..len {
            // SAFETY: `i < len` and the allocation holds `len` elements.
            unsafe { ptr.as_ptr().add(i).write(f(i)) };
        }
        HugeSlice { ptr, len, layout }
    }

    /// The slice `f(x)` for each `x` of `xs`.
    pub fn map<S: Copy>(xs: &[S], f: impl Fn(S) -> T) -> Self {
        Self::from_fn(xs.len(), |i| f(xs[i]))
    }

    /// `len` copies of `value`: a buffer to fill (in parallel, say).
    pub fn filled(len: usize, value: T) -> Self {
        Self::from_fn(len, |_| value)
    }

    /// The elements in an ordinary `Vec`, this buffer freed.
    pub fn into_vec(self) -> Vec<T> {
        self.to_vec()
    }
}

impl<T> Deref for HugeSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` initialised elements live at `ptr` until drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> DerefMut for HugeSlice<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for `deref`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for HugeSlice<T> {
    fn drop(&mut self) {
        if self.layout.size() > 0 {
            // SAFETY: allocated with this layout (by `alloc` or as a box of
            // `Copy` elements, which need no drop).
            unsafe { dealloc(self.ptr.as_ptr().cast(), self.layout) };
        }
    }
}

/// Asks the kernel to back `[ptr, ptr + len)` with huge pages, before it
/// is first touched; a refusal only costs speed.
#[cfg(target_os = "linux")]
fn advise_huge(ptr: *mut u8, len: usize) {
    // SAFETY: the range is one live allocation, aligned to a huge page.
    unsafe { libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE) };
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_: *mut u8, _: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_small_and_huge_buffers() {
        for n in [0usize, 1, 1000, (HUGE / 4) + 3] {
            let xs: Vec<u32> = (0..n as u32).collect();
            let h = HugeSlice::map(&xs, |x| x as f32 * 0.5);
            assert_eq!(h.len(), n);
            assert!(h.iter().enumerate().all(|(i, &v)| v == i as f32 * 0.5));
        }
    }
}
