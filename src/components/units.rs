//! Numbers as a person reads them: sizes, rates, percentages and time left.
//!
//! Pure functions with no Leptos in them, so `cargo test` checks the wording.
//! Sizes are decimal (1 MB = 10⁶ bytes), as download dialogs and disk labels
//! show them.

/// A size in bytes as "98.3 MB" (under a gigabyte) or "1.24 GB".
pub fn size(bytes: u64) -> String {
    let bytes = bytes as f64;
    if bytes >= 1e9 {
        format!("{:.2} GB", bytes / 1e9)
    } else {
        format!("{:.1} MB", bytes / 1e6)
    }
}

/// A transfer rate in bytes per second as "3.1 MB/s", or "850 kB/s" below a
/// megabyte per second.
pub fn rate(bytes_per_s: f64) -> String {
    if bytes_per_s >= 1e6 {
        format!("{:.1} MB/s", bytes_per_s / 1e6)
    } else {
        format!("{:.0} kB/s", bytes_per_s / 1e3)
    }
}

/// A percentage (0 to 100) as a whole number, rounded down so that "100%"
/// means done: "42%".
pub fn percent(p: f64) -> String {
    format!("{:.0}%", p.clamp(0.0, 100.0).floor())
}

/// "41.2 MB of 98.3 MB (42%)".
pub fn done_of_total(done: u64, total: u64, percent_done: f64) -> String {
    format!(
        "{} of {} ({})",
        size(done),
        size(total),
        percent(percent_done)
    )
}

/// Seconds left as a rough estimate, "about 25 s left", in words that do
/// not flicker with every report: rounded to 5 s under a minute, to whole
/// minutes under an hour.
pub fn time_left(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return String::new();
    }
    if seconds < 10.0 {
        return "a few seconds left".into();
    }
    if seconds < 57.5 {
        return format!("about {:.0} s left", (seconds / 5.0).round() * 5.0);
    }
    let minutes = (seconds / 60.0).round() as u64;
    match minutes {
        0 | 1 => "about 1 min left".into(),
        m if m < 60 => format!("about {m} min left"),
        m => format!("about {} h {} min left", m / 60, m % 60),
    }
}

/// A duration in milliseconds as "1.6 s", or "2 min 5 s" from a minute up.
pub fn duration(ms: f64) -> String {
    let s = ms / 1e3;
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        let whole = s.round() as u64;
        format!("{} min {} s", whole / 60, whole % 60)
    }
}

/// How far a long prompt has been read, with a rough time left at the rate
/// so far: "192 of 521 tokens, about 10 s left". `elapsed_ms` runs from
/// the request to the report of `done`.
pub fn prompt_read(done: u32, total: u32, elapsed_ms: f64) -> String {
    let read = format!("{done} of {total} tokens");
    if done == 0 || elapsed_ms <= 0.0 || done >= total {
        return read;
    }
    let left = f64::from(total - done) * elapsed_ms / 1e3 / f64::from(done);
    format!("{read}, {}", time_left(left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_download_dialog() {
        assert_eq!(size(41_200_000), "41.2 MB");
        assert_eq!(size(98_304_000), "98.3 MB");
        assert_eq!(size(0), "0.0 MB");
        assert_eq!(size(1_240_000_000), "1.24 GB");
    }

    #[test]
    fn progress_reads_as_in_the_brief() {
        assert_eq!(
            done_of_total(41_200_000, 98_300_000, 41.9),
            "41.2 MB of 98.3 MB (41%)"
        );
        assert_eq!(percent(99.99), "99%");
        assert_eq!(percent(100.0), "100%");
        assert_eq!(percent(140.0), "100%");
    }

    #[test]
    fn prompt_read_estimates_from_the_rate_so_far() {
        // 128 tokens in 4 s: 393 left at 32 a second, 12 s, rounded to 5 s.
        assert_eq!(
            prompt_read(128, 521, 4_000.0),
            "128 of 521 tokens, about 10 s left"
        );
        assert_eq!(
            prompt_read(448, 521, 14_000.0),
            "448 of 521 tokens, a few seconds left"
        );
        assert_eq!(prompt_read(0, 521, 0.0), "0 of 521 tokens");
        assert_eq!(prompt_read(521, 521, 9_000.0), "521 of 521 tokens");
    }

    #[test]
    fn rates() {
        assert_eq!(rate(3_100_000.0), "3.1 MB/s");
        assert_eq!(rate(850_000.0), "850 kB/s");
    }

    #[test]
    fn time_left_is_rounded_and_never_odd() {
        assert_eq!(time_left(3.0), "a few seconds left");
        assert_eq!(time_left(24.0), "about 25 s left");
        assert_eq!(time_left(57.0), "about 55 s left");
        assert_eq!(time_left(58.0), "about 1 min left");
        assert_eq!(time_left(150.0), "about 3 min left");
        assert_eq!(time_left(3_700.0), "about 1 h 2 min left");
        assert_eq!(time_left(f64::INFINITY), "");
        assert_eq!(time_left(-1.0), "");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(1_640.0), "1.6 s");
        assert_eq!(duration(125_000.0), "2 min 5 s");
    }
}
