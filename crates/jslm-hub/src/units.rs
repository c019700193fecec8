//! Human-readable byte counts and durations (decimal units, as the Hugging Face website shows
//! file sizes: 4.37 GB is 4.37 × 10⁹ bytes).

/// Formats a byte count with decimal units and at most two decimals: `14.5 GB`, `512 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, f64); 4] = [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    for (unit, scale) in UNITS {
        if bytes as f64 >= scale {
            let text = format!("{:.2}", bytes as f64 / scale);
            let text = text.trim_end_matches('0').trim_end_matches('.');
            return format!("{text} {unit}");
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn formats_like_the_hub() {
        let cases = [
            (0, "0 B"),
            (999, "999 B"),
            (1_000, "1 kB"),
            (4_368_438_976, "4.37 GB"),
            (14_500_000_000, "14.5 GB"),
            (9_200_000_000, "9.2 GB"),
            (7_695_857_952, "7.7 GB"),
            (2_000_000_000_000, "2 TB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(human_bytes(bytes), want, "{bytes}");
        }
    }
}
