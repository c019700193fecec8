//! Byte units and the one way sizes are shown to people.
//!
//! Every size in this crate is a `u64` count of bytes, so an estimate can be neither NaN nor
//! negative. Sizes shown to users are decimal gigabytes (10^9 bytes), the unit Hugging Face and
//! download dialogs use for file sizes, so "14.48 GB" here matches the model page.

/// One kibibyte (2^10 bytes).
pub const KIB: u64 = 1 << 10;
/// One mebibyte (2^20 bytes).
pub const MIB: u64 = 1 << 20;
/// One gibibyte (2^30 bytes).
pub const GIB: u64 = 1 << 30;
/// One decimal megabyte (10^6 bytes).
pub const MB: u64 = 1_000_000;
/// One decimal gigabyte (10^9 bytes).
pub const GB: u64 = 1_000_000_000;

/// Formats a byte count as decimal gigabytes for people: one decimal from 1 GB up
/// ("5.1 GB"), two below ("0.54 GB"), so small components never show as "0.0 GB".
pub fn format_gb(bytes: u64) -> String {
    // u64 -> f64 loses precision only above 2^53 bytes (9 PB); the display rounds anyway.
    let gb = bytes as f64 / GB as f64;
    if gb >= 1.0 {
        format!("{gb:.1} GB")
    } else {
        format!("{gb:.2} GB")
    }
}

/// `numerator / denominator` as a percentage for display, 0 when the denominator is 0
/// (never NaN or infinite).
pub fn percent(numerator: u64, denominator: u64) -> u64 {
    if denominator == 0 {
        return 0;
    }
    ((numerator as u128 * 100) / denominator as u128).min(u64::MAX as u128) as u64
}

/// Scales `bytes` by `numerator / denominator` in integer arithmetic, rounding down; 0 when
/// the denominator is 0.
pub fn scale(bytes: u64, numerator: u64, denominator: u64) -> u64 {
    if denominator == 0 {
        return 0;
    }
    ((bytes as u128 * numerator as u128) / denominator as u128).min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_gb_table() {
        let cases: &[(u64, &str)] = &[
            (0, "0.00 GB"),
            (1, "0.00 GB"),
            (540_000_000, "0.54 GB"),
            (999_999_999, "1.00 GB"),
            (GB, "1.0 GB"),
            (5_100_000_000, "5.1 GB"),
            (14_480_000_000, "14.5 GB"),
            (u64::MAX, "18446744073.7 GB"),
        ];
        for (bytes, want) in cases {
            let got = format_gb(*bytes);
            assert_eq!(&got, want, "format_gb({bytes})");
            assert!(!got.contains("NaN") && !got.contains('-') && !got.contains("inf"));
        }
    }

    #[test]
    fn percent_and_scale_never_divide_by_zero() {
        assert_eq!(percent(5, 0), 0);
        assert_eq!(percent(1, 4), 25);
        assert_eq!(percent(u64::MAX, 1), u64::MAX);
        assert_eq!(scale(100, 3, 4), 75);
        assert_eq!(scale(100, 1, 0), 0);
        assert_eq!(scale(u64::MAX, 2, 1), u64::MAX);
    }
}
