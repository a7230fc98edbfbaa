//! What the SQL backends share.

/// Maps a `u64` to an `i64` preserving order (SQL integers are signed): `0` becomes `i64::MIN`.
/// "Only if greater" comparisons in SQL then hold across the whole `u64` range.
pub(crate) fn ordered_to_sql(x: u64) -> i64 {
    (x ^ (1 << 63)) as i64
}

/// The inverse of [`ordered_to_sql`].
pub(crate) fn ordered_from_sql(x: i64) -> u64 {
    (x as u64) ^ (1 << 63)
}

/// The schema version the SQL backends create and migrate to.
pub(crate) const SCHEMA_VERSION: i64 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_mapping_preserves_order() {
        let xs = [0, 1, 2, (1 << 63) - 1, 1 << 63, u64::MAX - 1, u64::MAX];
        for w in xs.windows(2) {
            assert!(ordered_to_sql(w[0]) < ordered_to_sql(w[1]));
        }
        for x in xs {
            assert_eq!(ordered_from_sql(ordered_to_sql(x)), x);
        }
    }
}
