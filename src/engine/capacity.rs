//! How many connections this process can hold, from the operating system's limits.
//!
//! Each connection costs up to two threads (its writer starts only when a
//! frame has to wait, but may at any time), and each thread a pid and two
//! memory maps (its stack and guard page; `spawn.rs` says why not four). The
//! server computes its capacity at start-up from the kernel's and the
//! process's limits, and answers 503 past it, so that it never runs into
//! them: a process out of memory maps or pids fails in places that cannot
//! recover (allocations, other libraries' threads).

use std::fs;

/// Memory maps one connection costs: two threads with a stack and a guard
/// page each, plus one for allocator growth.
const MAPS_PER_CONN: usize = 5;
/// Threads per connection.
const THREADS_PER_CONN: usize = 2;
/// Headroom left for everything else in the process.
const MAPS_RESERVE: usize = 1024;
const THREADS_RESERVE: usize = 256;
const FDS_RESERVE: usize = 64;

/// The most connections the process can add now, and which limit binds,
/// for connections holding `fds_per_conn` descriptors each.
pub(crate) fn connection_capacity(fds_per_conn: usize) -> (usize, &'static str) {
    let mut best = (usize::MAX, "none");
    let mut consider = |cap: Option<usize>, name: &'static str| {
        if let Some(cap) = cap {
            if cap < best.0 {
                best = (cap, name);
            }
        }
    };
    let maps_now = fs::read_to_string("/proc/self/maps")
        .ok()
        .map(|m| m.lines().count());
    consider(
        read_number("/proc/sys/vm/max_map_count")
            .zip(maps_now)
            .map(|(max, now)| max.saturating_sub(now + MAPS_RESERVE) / MAPS_PER_CONN),
        "vm.max_map_count",
    );
    let threads_now = read_total_threads();
    let pid_cap = [
        read_number("/proc/sys/kernel/pid_max"),
        read_number("/proc/sys/kernel/threads-max"),
    ]
    .into_iter()
    .flatten()
    .min();
    consider(
        pid_cap
            .zip(threads_now)
            .map(|(max, now)| max.saturating_sub(now + THREADS_RESERVE) / THREADS_PER_CONN),
        "kernel.pid_max/threads-max",
    );
    consider(
        read_limit("Max processes")
            .zip(threads_now)
            .map(|(max, now)| max.saturating_sub(now + THREADS_RESERVE) / THREADS_PER_CONN),
        "RLIMIT_NPROC",
    );
    let fds_now = fs::read_dir("/proc/self/fd").ok().map(|d| d.count());
    consider(
        read_limit("Max open files")
            .zip(fds_now)
            .map(|(max, now)| max.saturating_sub(now + FDS_RESERVE) / fds_per_conn.max(1)),
        "RLIMIT_NOFILE",
    );
    best
}

fn read_number(path: &str) -> Option<usize> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Threads on the whole system (the 4th field of /proc/loadavg is running/total).
fn read_total_threads() -> Option<usize> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace()
        .nth(3)?
        .split('/')
        .nth(1)?
        .parse()
        .ok()
}

/// The soft limit from /proc/self/limits; `None` if unlimited or unknown.
fn read_limit(name: &str) -> Option<usize> {
    let text = fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_computed_on_linux() {
        let (cap, why) = connection_capacity(1);
        if cfg!(target_os = "linux") {
            assert!(cap > 0 && cap < usize::MAX, "{cap} ({why})");
        }
    }
}
