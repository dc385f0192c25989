//! Pinning the benchmark's processes to cores, and what each one costs in CPU: every server
//! process and `redis-server` on one core, the clients and the simulator on the other, each
//! process's utime + stime from `/proc/<pid>/stat` over a phase's wall time.

use std::{process::Stdio, sync::Mutex, time::Instant};

/// The core every server process and Redis run on…
pub(crate) const SERVER_CORE: &str = "0";
/// …and the one this process (clients and simulator) runs on.
pub(crate) const BENCH_CORE: &str = "1";
pub(crate) const TASKSET: &str = "/usr/bin/taskset";

/// Sets the affinity of every thread of `pid`; whether that worked.
pub(crate) fn pin(pid: u32, cores: &str) -> bool {
    std::process::Command::new(TASKSET)
        .args(["-a", "-p", "-c", cores, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The cores `pid` may run on, as `taskset` lists them.
pub(crate) fn affinity(pid: u32) -> Option<String> {
    let output = std::process::Command::new(TASKSET)
        .args(["-p", "-c", &pid.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.rsplit_once(": ")?.1.trim().to_owned())
}

/// `redis-server`'s pid, from `INFO server`.
pub(crate) fn redis_pid() -> Option<u32> {
    let output = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "info", "server"])
        .output()
        .ok()?;
    String::from_utf8(output.stdout)
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}

/// Where things run; restores Redis's affinity when dropped (Redis is shared with other work).
pub(crate) struct Pinning {
    /// Whether `taskset` exists (children are started under it).
    pub(crate) available: bool,
    /// Redis's pid, when it was found (its CPU is measured).
    pub(crate) redis: Option<u32>,
    redis_restore: Option<String>,
}

impl Pinning {
    /// Pins this process to [`BENCH_CORE`] — before the runtime starts, so every thread it creates
    /// inherits the mask — and Redis to [`SERVER_CORE`]; prints what was done.
    pub(crate) fn apply(wanted: bool) -> Self {
        let available = wanted && std::path::Path::new(TASKSET).exists();
        let redis = redis_pid();
        let mut pinning = Self {
            available,
            redis,
            redis_restore: None,
        };
        if !available {
            println!("pinning: none (--no-pin, or no {TASKSET}); every process may use both cores");
            return pinning;
        }
        let bench = pin(std::process::id(), BENCH_CORE);
        if let Some(pid) = redis {
            let before = affinity(pid);
            if pin(pid, SERVER_CORE) {
                pinning.redis_restore = before;
            }
        }
        println!(
            "pinning: server processes on core {SERVER_CORE} (taskset -c {SERVER_CORE}); redis-server {} ; this process (clients + simulator) {}",
            match (redis, &pinning.redis_restore) {
                (Some(pid), Some(before)) => format!(
                    "pid {pid} on core {SERVER_CORE} (taskset -apc {SERVER_CORE}; restored to {before} at exit)"
                ),
                (Some(pid), None) => format!("pid {pid} not pinned"),
                (None, _) => "pid unknown, not measured".to_owned(),
            },
            if bench {
                format!("on core {BENCH_CORE} (taskset -apc {BENCH_CORE})")
            } else {
                "not pinned".to_owned()
            },
        );
        pinning
    }
}

impl Drop for Pinning {
    fn drop(&mut self) {
        if let (Some(pid), Some(before)) = (self.redis, &self.redis_restore) {
            pin(pid, before);
        }
    }
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat`'s times.
pub(crate) fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of `pid` (all its threads), in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it start with field 3 (state).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// One process's CPU over a phase.
pub(crate) struct CpuUse {
    pub(crate) label: &'static str,
    /// % of one core, `None` when the process could not be read.
    pub(crate) percent: Option<f64>,
}

pub(crate) struct Meter {
    label: &'static str,
    pid: u32,
    start: Option<(u64, Instant)>,
    end: Option<(Option<u64>, Instant)>,
}

/// CPU of a set of processes between [`CpuMeter::start`] and [`CpuMeter::finish`].
pub(crate) struct CpuMeter {
    meters: Mutex<Vec<Meter>>,
    ticks_per_second: f64,
}

impl CpuMeter {
    pub(crate) fn new(processes: &[(&'static str, Option<u32>)]) -> Self {
        let meters = processes
            .iter()
            .filter_map(|&(label, pid)| {
                Some(Meter {
                    label,
                    pid: pid?,
                    start: None,
                    end: None,
                })
            })
            .collect();
        Self {
            meters: Mutex::new(meters),
            ticks_per_second: clock_ticks(),
        }
    }

    pub(crate) fn start(&self) {
        let now = Instant::now();
        for meter in self.meters.lock().unwrap().iter_mut() {
            meter.start = cpu_ticks(meter.pid).map(|ticks| (ticks, now));
        }
    }

    /// Takes `pid`'s final reading now (a process about to be killed).
    pub(crate) fn freeze(&self, pid: u32) {
        let now = Instant::now();
        for meter in self.meters.lock().unwrap().iter_mut() {
            if meter.pid == pid {
                meter.end = Some((cpu_ticks(pid), now));
            }
        }
    }

    pub(crate) fn finish(&self) -> Vec<CpuUse> {
        let now = Instant::now();
        let mut meters = self.meters.lock().unwrap();
        meters
            .iter_mut()
            .map(|meter| {
                let (end, at) = *meter.end.get_or_insert_with(|| (cpu_ticks(meter.pid), now));
                let percent = match (meter.start, end) {
                    (Some((start, since)), Some(end)) => {
                        let seconds = at.duration_since(since).as_secs_f64().max(1e-9);
                        Some((end.saturating_sub(start)) as f64 / self.ticks_per_second / seconds * 100.0)
                    }
                    _ => None,
                };
                CpuUse {
                    label: meter.label,
                    percent,
                }
            })
            .collect()
    }
}
