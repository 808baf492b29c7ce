//! UTC timestamps from `SOURCE_DATE_EPOCH`.

use ::time::format_description::well_known::Rfc3339;
use ::time::OffsetDateTime;

/// Formats seconds since the Unix epoch as RFC 3339 UTC, e.g. `2026-11-22T01:45:41Z`.
///
/// Used for the SBOM's `metadata.timestamp` and the updater's `pub_date`, both of which must
/// come from the release commit rather than the wall clock so rebuilds are byte-identical.
pub fn rfc3339_utc(seconds_since_epoch: u64) -> String {
    i64::try_from(seconds_since_epoch)
        .ok()
        .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
        .and_then(|time| time.format(&Rfc3339).ok())
        // Past year 9999, which no commit date reaches; the latest instant RFC 3339 can write.
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        for (seconds, expected) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (1_795_311_941, "2026-11-22T01:45:41Z"),
            (4_107_542_399, "2100-02-28T23:59:59Z"),
            (u64::MAX, "9999-12-31T23:59:59Z"),
        ] {
            assert_eq!(rfc3339_utc(seconds), expected, "{seconds}");
        }
    }
}
