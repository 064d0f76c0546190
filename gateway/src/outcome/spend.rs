//! Spend per client key (or model, or day) from the outcome log: `switchyard spend` and the
//! budgets' start-up seed. The queries live in the `outcome-log` crate.

pub use outcome_log::spend::{key_spend_since, spend_report, SpendBy, SpendRow};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_database_without_outcomes_reports_no_spend() {
        let dir = tempfile::tempdir().unwrap();
        // An empty file is a valid, empty SQLite database.
        let empty = dir.path().join("empty.sqlite");
        std::fs::write(&empty, b"").unwrap();
        // Keys created before the gateway ever ran: `client_keys` only.
        let keys_only = dir.path().join("keys.sqlite");
        crate::auth::KeyStore::open(&keys_only).unwrap();
        for db in [&empty, &keys_only] {
            for by in [SpendBy::Key, SpendBy::Model, SpendBy::Day] {
                assert_eq!(spend_report(db, by, None).unwrap(), Vec::new());
            }
            assert_eq!(key_spend_since(db, "key_0", 0).unwrap(), 0.0);
        }
        let missing = dir.path().join("nope.sqlite");
        let err = spend_report(&missing, SpendBy::Key, None).unwrap_err();
        assert!(err.to_string().contains("nope.sqlite"), "{err}");
    }
}
