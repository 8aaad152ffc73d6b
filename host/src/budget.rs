//! Memory checked before it is asked for: a computation whose buffers would not fit gets an
//! error naming what needs how much, instead of an allocation failure that aborts the process.
//!
//! The limit is three quarters of what the kernel says is available (`MemAvailable` in
//! `/proc/meminfo`, which counts reclaimable page cache) at the time of the check: the buffers
//! counted are the large ones, and the rest of the process, the allocator and the machine's
//! other work need the remainder. Where `MemAvailable` cannot be read, only sizes that overflow
//! the address space are refused.

use anyhow::{Result, bail};

/// Bytes of memory available to a new allocation now, if the system says.
pub fn available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// `bytes` as people read it: `40.0 GB`, `512 MB`, `3 KB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Bytes of `count` values of `T`, refused if it overflows.
pub fn bytes_of<T>(count: usize, what: &str) -> Result<u64> {
    count
        .checked_mul(std::mem::size_of::<T>())
        .and_then(|b| u64::try_from(b).ok())
        .ok_or_else(|| anyhow::anyhow!("{what}: {count} values overflow the address space"))
}

/// The product of `factors`, refused if it overflows (`what` names the quantity).
pub fn product(factors: &[usize], what: &str) -> Result<usize> {
    factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f))
        .ok_or_else(|| anyhow::anyhow!("{what}: {factors:?} overflows the address space"))
}

/// Fails unless `bytes` for `what` fit in the memory available now.
pub fn check(what: &str, bytes: u64) -> Result<()> {
    check_against(what, bytes, available())
}

fn check_against(what: &str, bytes: u64, available: Option<u64>) -> Result<()> {
    if isize::try_from(bytes).is_err() {
        bail!(
            "{what} would need {}, more than this machine can address",
            human(bytes)
        );
    }
    if let Some(avail) = available
        && bytes > avail / 4 * 3
    {
        bail!(
            "{what} would need {} of memory; {} is available (mote uses at most three quarters)",
            human(bytes),
            human(avail)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_in_the_message_and_limits() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(40_000_000_000), "40.0 GB");
        let e = check_against("weight matching", 40_000_000_000, Some(20_000_000_000))
            .expect_err("too large")
            .to_string();
        assert_eq!(
            e,
            "weight matching would need 40.0 GB of memory; 20.0 GB is available (mote uses at \
             most three quarters)"
        );
        assert!(check_against("x", 1 << 20, Some(1 << 30)).is_ok());
        assert!(check_against("x", 800, Some(1000)).is_err());
        assert!(check_against("x", u64::MAX, None).is_err());
        assert!(product(&[usize::MAX, 2], "weights").is_err());
        assert_eq!(product(&[3, 4], "weights").expect("fits"), 12);
        assert!(
            available().is_some_and(|a| a > 0),
            "Linux reports MemAvailable"
        );
    }
}
