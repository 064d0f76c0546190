//! Scheduling priority of the encoder threads relative to the rest of the process.
//!
//! Past saturation a gateway keeps answering the requests the encoder refuses (they take the
//! static fallback), and on a small machine that HTTP work, at equal priority, takes the cores
//! the encoder needs: measured on 2 cores, a 16-token batch of one went from 10 ms to 80–170 ms
//! under a flood of refused requests, the cost fit followed, and the routed rate fell to almost
//! nothing. The encoder threads therefore run `gap` nice levels above the process (a thread's
//! CPU share under Linux's scheduler grows about 1.25× per level: 5 levels ≈ 3:1). Raising
//! a thread needs `CAP_SYS_NICE` or an `RLIMIT_NICE` allowance; where neither is granted the
//! HTTP threads can step down instead ([`super::Service::yield_to_encoder`]), which is always
//! permitted.
//!
//! Linux only (a thread's nice value is per thread there); elsewhere these do nothing.

/// What became of the encoder threads' priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncoderPriority {
    /// Turned off (`priority_gap` 0) or not supported on this platform.
    Unchanged,
    /// Every encoder thread runs `gap` nice levels above the process.
    Raised,
    /// The process may not raise a thread's priority: the encoder runs at the process's
    /// level unless the HTTP threads step down ([`super::Service::yield_to_encoder`]).
    NotPermitted,
}

impl EncoderPriority {
    /// Low-cardinality label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            EncoderPriority::Unchanged => "unchanged",
            EncoderPriority::Raised => "raised",
            EncoderPriority::NotPermitted => "not_permitted",
        }
    }
}

/// Nice levels are -20 (most favoured) to 19.
const NICE_MIN: i32 = -20;
const NICE_MAX: i32 = 19;

/// The nice value `gap` levels more favoured (`gap` > 0) or less (`gap` < 0) than `current`,
/// inside the valid range.
pub(crate) fn shifted(current: i32, gap: i32) -> i32 {
    current.saturating_sub(gap).clamp(NICE_MIN, NICE_MAX)
}

/// Moves the calling thread `gap` nice levels up (positive) or down (negative); false when the
/// system refuses or the platform has no per-thread nice value.
#[cfg(target_os = "linux")]
pub(crate) fn shift_current_thread(gap: i32) -> bool {
    use rustix::process::{getpriority_process, setpriority_process};
    if gap == 0 {
        return true;
    }
    // On Linux `PRIO_PROCESS` with a thread id addresses that one thread.
    let tid = Some(rustix::thread::gettid());
    let Ok(current) = getpriority_process(tid) else {
        return false;
    };
    setpriority_process(tid, shifted(current, gap)).is_ok()
}

/// Moves the calling thread `gap` nice levels up (positive) or down (negative); false when the
/// system refuses or the platform has no per-thread nice value.
#[cfg(not(target_os = "linux"))]
pub(crate) fn shift_current_thread(gap: i32) -> bool {
    gap == 0
}

/// The calling thread's nice value (0 where unknown).
pub fn current_thread_nice() -> i32 {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or(0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn shifts_stay_inside_the_nice_range() {
        assert_eq!(shifted(0, 10), -10);
        assert_eq!(shifted(0, -10), 10);
        assert_eq!(shifted(-15, 10), -20);
        assert_eq!(shifted(15, -10), 19);
        assert_eq!(shifted(0, i32::MIN), 19);
        assert_eq!(shifted(0, i32::MAX), -20);
    }

    #[test]
    fn a_thread_can_always_step_down() {
        // Lowering one's own priority needs no privilege; run on a throwaway thread so the
        // test harness's threads keep theirs.
        let (ok, before, after) = std::thread::spawn(|| {
            let before = current_thread_nice();
            let ok = shift_current_thread(-3);
            (ok, before, current_thread_nice())
        })
        .join()
        .unwrap();
        if cfg!(target_os = "linux") {
            assert!(ok);
            assert_eq!(after, shifted(before, -3));
        } else {
            assert!(!ok);
        }
    }
}
