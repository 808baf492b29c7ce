//! Sizes for people: `3.1 GB`, `120 MB`. Binary units with the names people see in Windows
//! Explorer and on RAM labels (an "8 GB" module is 8 GiB).

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// Rounded to the nearest shown digit: `3.1 GB`, `16 GB`, `120 MB`.
pub fn human_bytes(bytes: u64) -> String {
    format_bytes(bytes, false)
}

/// Rounded up, for amounts the user must free: freeing what it says is always enough.
pub fn human_bytes_up(bytes: u64) -> String {
    format_bytes(bytes, true)
}

fn format_bytes(bytes: u64, up: bool) -> String {
    let (unit, name) = if bytes >= GIB {
        (GIB, "GB")
    } else if bytes >= MIB {
        (MIB, "MB")
    } else {
        (KIB, "KB")
    };
    // Tenths under 10 GB only: "3.1 GB" but "16 GB" and "120 MB".
    let tenths = unit == GIB && bytes < 10 * GIB;
    let scale = if tenths { 10 } else { 1 };
    let numerator = bytes as u128 * scale;
    let denominator = unit as u128;
    let value = if up {
        numerator.div_ceil(denominator)
    } else {
        (numerator + denominator / 2) / denominator
    };
    if tenths {
        let (whole, tenth) = (value / 10, value % 10);
        if tenth == 0 {
            format!("{whole} {name}")
        } else {
            format!("{whole}.{tenth} {name}")
        }
    } else {
        format!("{value} {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_file_manager() {
        assert_eq!(human_bytes(3_300_000_000), "3.1 GB");
        assert_eq!(human_bytes(8 * GIB), "8 GB");
        assert_eq!(human_bytes(16 * GIB + 100 * MIB), "16 GB");
        assert_eq!(human_bytes(120 * MIB + 10), "120 MB");
        assert_eq!(human_bytes(900), "1 KB");
        assert_eq!(human_bytes(0), "0 KB");
        assert_eq!(human_bytes_up(GIB + 1), "1.1 GB");
        assert_eq!(human_bytes_up(GIB + 150 * MIB), "1.2 GB");
        assert_eq!(human_bytes_up(200 * MIB + 1), "201 MB");
        // Rounding up to the next unit's tenths stays readable.
        assert_eq!(human_bytes(GIB - 1), "1024 MB");
    }
}
