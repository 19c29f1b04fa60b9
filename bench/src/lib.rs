//! What the benchmark programs share: pinning, reading a server's CPU time
//! and memory from /proc, starting a server process and learning its port,
//! medians, and writing a table into a marked section of BENCHMARKS.md.
//!
//! Every benchmark starts the servers it measures as child processes of
//! its own executable (`--serve NAME`), each announcing its port on the
//! first line of its stdout, so that each server's CPU time and RSS are its
//! own and nothing of the load side is counted.

pub mod load;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// Pin the calling process (all its threads created afterwards) to one CPU.
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes
    // within it; sched_setaffinity(0, ..) only affects this process.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// User plus system CPU time of process `pid` so far, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

/// A field of /proc/PID/status as a number (`VmRSS` in KiB, `Threads`).
pub fn status_field(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmRSS")
}

/// Threads of process `pid`.
pub fn thread_count(pid: u32) -> u64 {
    status_field(pid, "Threads")
}

/// Raise this process's open-file limit to its hard limit (the idle
/// scenarios hold thousands of sockets). Returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        lim.rlim_cur as u64
    }
}

/// Called by a server process once it listens: tells the driver its port.
pub fn announce(port: u16) {
    println!("listening {port}");
    std::io::stdout().flush().expect("stdout");
}

/// Start this executable as `--serve NAME [extra...]` and wait for the port
/// it announces.
pub fn start_server(name: &str, extra: &[&str]) -> (Child, u16) {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .arg("--serve")
        .arg(name)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("server announces its port");
    // Ours say "listening PORT"; the C examples "... listening on ws://HOST:PORT".
    let port = line
        .trim()
        .strip_prefix("listening ")
        .or_else(|| line.trim().rsplit_once(':').map(|(_, p)| p))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"));
    (child, port)
}

/// Stop a server started by [`start_server`].
pub fn stop_server(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Median of `v` (NaN when empty); NaNs sort last.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Percentile `p` (0..=1) of sorted values, as f64 (NaN when empty).
pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        f64::NAN
    } else {
        f64::from(sorted[((sorted.len() - 1) as f64 * p).round() as usize])
    }
}

/// Replace the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->`
/// in the file at `path` with `body`.
pub fn write_section(path: &str, name: &str, body: &str) {
    let (begin, end) = (
        format!("<!-- {name}:begin -->"),
        format!("<!-- {name}:end -->"),
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (Some(b), Some(e)) = (text.find(&begin), text.find(&end)) else {
        panic!("{path} has no {begin} ... {end} section");
    };
    let updated = format!("{}{begin}\n{body}{}", &text[..b], &text[e..]);
    std::fs::write(path, updated).unwrap_or_else(|e| panic!("{path}: {e}"));
    eprintln!("updated the {name} section of {path}");
}

/// One line describing the machine: CPU model, cores, kernel.
pub fn machine_description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim());
    // Online CPUs, not this process's affinity (the driver pins itself).
    // SAFETY: sysconf has no preconditions.
    let cores = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores, Linux {}", kernel.trim())
}
