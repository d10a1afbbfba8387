//! How bytes and money read for a person: every report, summary and command prints them
//! through these functions, so the same figure reads the same everywhere.

/// Bytes in the unit AWS bills storage by (a "GB" of 2^30 bytes).
pub const GIB: f64 = (1u64 << 30) as f64;

/// An integer with thousands separators: `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes as GiB with one decimal and thousands separators: `1,940.1 GiB`.
pub fn gib(bytes: u64) -> String {
    let tenths = (bytes as f64 / GIB * 10.0).round() as u64;
    format!("{}.{} GiB", count(tenths / 10), tenths % 10)
}

/// Bytes in the largest binary unit up to TiB that keeps the number at least 1:
/// `1536` → `1.5 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Like [`human_bytes`], but never above GiB (`2048.0 GiB`): the unit `ecrgc explain`
/// prints an image's size in.
pub fn human_bytes_up_to_gib(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            return format!("{:.1} {unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes} B")
}

/// USD rounded to the cent, as every report shows them.
pub fn round_cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

/// USD with thousands separators and cents: `$2,328.09`, `-$5.00`.
pub fn usd(v: f64) -> String {
    let cents = (v * 100.0).round() as i64;
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}${}.{:02}", count(cents / 100), cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_in_binary_units() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 40), "3.0 TiB");
        assert_eq!(human_bytes_up_to_gib(3 << 40), "3072.0 GiB");
        assert_eq!(human_bytes_up_to_gib(1536), "1.5 KiB");
        assert_eq!(gib((1 << 30) * 1234 + (1 << 29)), "1,234.5 GiB");
    }

    #[test]
    fn money_reads_with_cents_and_separators() {
        assert_eq!(usd(2328.089), "$2,328.09");
        assert_eq!(usd(-5.0), "-$5.00");
        assert_eq!(round_cents(0.125_1), 0.13);
        assert_eq!(count(1_234_567), "1,234,567");
    }
}
