//! `nlab capture LAB --list [--json]`: the links the lab records for its
//! lifetime (`capture:` in its topology file), with their files.

use super::output::{print_json, table};
use crate::lab::recorded::{self, RecordingStatus};

/// `2.1 KiB`, `16.0 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `19:14:24 UTC (3m 5s ago)`.
fn since(ns: u64, now_ns: u64) -> String {
    if ns == 0 {
        return "-".into();
    }
    let clock = crate::services::capture::summary::clock(ns);
    let hms = clock.split('.').next().unwrap_or(&clock);
    let ago = now_ns.saturating_sub(ns) / 1_000_000_000;
    let ago = match ago {
        a if a < 60 => format!("{a}s"),
        a if a < 3600 => format!("{}m {}s", a / 60, a % 60),
        a => format!("{}h {}m", a / 3600, a / 60 % 60),
    };
    format!("{hms} UTC ({ago} ago)")
}

fn state(r: &RecordingStatus) -> String {
    match (&r.error, r.running) {
        (_, true) => "recording".into(),
        (Some(e), false) => e.clone(),
        (None, false) => "stopped".into(),
    }
}

pub fn list(lab: &str, json: bool) -> anyhow::Result<i32> {
    let rows = recorded::list(lab)?;
    if json {
        print_json(&serde_json::json!({ "lab": lab, "recordings": rows }))?;
        return Ok(0);
    }
    if rows.is_empty() {
        println!(
            "Lab {lab} records no links (give a link `capture: true` in its topology file and \
             run `nlab up FILE` again)."
        );
        return Ok(0);
    }
    let now = crate::services::capture::now_ns();
    let mut t = table(&[
        "link",
        "interfaces",
        "files",
        "size",
        "packets",
        "dropped",
        "since",
        "state",
    ]);
    for r in &rows {
        t.add_row(vec![
            r.link.clone(),
            r.interfaces.join(", "),
            format!(
                "{} of {}",
                r.files.len(),
                r.max_files.max(r.files.len() as u32)
            ),
            size(r.bytes),
            r.packets.to_string(),
            r.dropped.to_string(),
            since(r.since_unix_ns, now),
            state(r),
        ]);
    }
    println!("{t}");
    println!("Files (oldest first; each at most its link's max_size, root only, removed by `nlab down {lab}`):");
    for f in rows.iter().flat_map(|r| &r.files) {
        println!("  {}  {}, {} packets", f.path, size(f.bytes), f.packets);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_read_well() {
        assert_eq!(size(900), "900 B");
        assert_eq!(size(2150), "2.1 KiB");
        assert_eq!(size(16 << 20), "16.0 MiB");
        let t = 1_795_639_492_113_000_000;
        assert_eq!(since(t, t + 5_000_000_000), "20:44:52 UTC (5s ago)");
        assert_eq!(since(t, t + 125_000_000_000), "20:44:52 UTC (2m 5s ago)");
        assert_eq!(since(0, t), "-");
    }
}
