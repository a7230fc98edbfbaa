//! What both SQL dialects' drivers share: a statement with its converted parameters, and reading
//! a user row, so that each driver only binds values and reads columns.

use super::sql::{ordered_from_sql, ordered_to_sql};
use super::{Attempt, ColdFields, StoreError, StoredStatus, StoredUser};

/// One parameter value, as both drivers bind it.
#[derive(Clone, Copy)]
pub(crate) enum Param<'a> {
    /// `TEXT`.
    Text(&'a str),
    /// `TEXT`, possibly `NULL`.
    OptText(Option<&'a str>),
    /// An integer (`BIGINT`, `INTEGER`).
    Int(i64),
    /// An integer (`BIGINT`, `INTEGER`), possibly `NULL`.
    OptInt(Option<i64>),
    /// A boolean (`BOOLEAN`; `INTEGER` 0 or 1 on SQLite).
    Bool(bool),
}

/// A statement's text and its parameters (`$1`, `$2`, … on PostgreSQL, `?1`, `?2`, … on SQLite, in order).
pub(crate) struct Statement<'a> {
    /// The text, the same for every call on one store (drivers cache it prepared).
    pub(crate) sql: &'a str,
    /// The values of the placeholders, in order.
    pub(crate) params: Vec<Param<'a>>,
}

/// The texts of a dialect's three [`Attempt`] statements, which number their parameters alike:
/// the user, then for a failure the expected count and the time; for an accepted step the step,
/// drift, time, expected count, version and generation; for a consumed recovery code the
/// generation, the code's bit, time, expected count and version.
pub(crate) struct AttemptSql<'a> {
    /// [`Attempt::Failed`].
    pub(crate) failed: &'a str,
    /// [`Attempt::AcceptStep`].
    pub(crate) accept: &'a str,
    /// [`Attempt::ConsumeRecoveryCode`].
    pub(crate) consume: &'a str,
}

impl<'a> AttemptSql<'a> {
    /// The statement settling `attempt` on `expected_failures` at `at`; `None` when no statement
    /// can (a recovery code index of 64 or more has no bit).
    pub(crate) fn settle(
        self,
        user_id: &'a str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> Option<Statement<'a>> {
        let failures = Param::Int(i64::from(expected_failures));
        let at = Param::Int(ordered_to_sql(at));
        Some(match attempt {
            Attempt::Failed => Statement {
                sql: self.failed,
                params: vec![Param::Text(user_id), failures, at],
            },
            Attempt::AcceptStep {
                step,
                drift,
                version,
                generation,
            } => Statement {
                sql: self.accept,
                params: vec![
                    Param::Text(user_id),
                    Param::Int(ordered_to_sql(step)),
                    Param::Int(drift),
                    at,
                    failures,
                    Param::Int(bits(version)),
                    Param::Int(bits(generation)),
                ],
            },
            Attempt::ConsumeRecoveryCode {
                generation,
                index,
                version,
            } => Statement {
                sql: self.consume,
                params: vec![
                    Param::Text(user_id),
                    Param::Int(bits(generation)),
                    Param::Int(bits(1u64.checked_shl(index)?)),
                    at,
                    failures,
                    Param::Int(bits(version)),
                ],
            },
        })
    }
}

/// A dialect's `INSERT` of a new record (its text `sql`), whose parameters both dialects number
/// alike: the user, status, state, required, recovery generation, recovery record, version.
pub(crate) fn insert_statement<'a>(
    sql: &'a str,
    user_id: &'a str,
    version: u64,
    cold: &'a ColdFields,
) -> Statement<'a> {
    Statement {
        sql,
        params: vec![
            Param::Text(user_id),
            Param::Text(cold.status.as_str()),
            Param::Text(&cold.state),
            Param::Bool(cold.required),
            Param::Int(bits(cold.recovery_generation)),
            Param::OptText(cold.recovery.as_deref()),
            Param::Int(bits(version)),
        ],
    }
}

/// A `u64` stored as the 64-bit integer with the same bits (versions, generations, the used-code
/// mask: compared for equality or bitwise only).
pub(crate) fn bits(x: u64) -> i64 {
    i64::from_ne_bytes(x.to_ne_bytes())
}

/// The inverse of [`bits`].
pub(crate) fn from_bits(x: i64) -> u64 {
    u64::from_ne_bytes(x.to_ne_bytes())
}

/// A row's columns, as a driver reads them; an error is [`StoreError::Corrupt`].
pub(crate) trait Columns {
    /// A `TEXT` column.
    fn text(&self, i: usize) -> Result<String, StoreError>;
    /// A nullable `TEXT` column.
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    /// An integer column.
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    /// A boolean column (`BOOLEAN`, or `INTEGER` on SQLite).
    fn boolean(&self, i: usize) -> Result<bool, StoreError>;
}

/// The error for a column a driver cannot read as the type the schema gives it.
pub(crate) fn column_error<E>(_: E) -> StoreError {
    StoreError::Corrupt("unexpected column type")
}

/// A user row of a dialect's `get` or `list` statement.
pub(crate) fn read_user(row: &impl Columns) -> Result<StoredUser, StoreError> {
    Ok(StoredUser {
        user_id: row.text(0)?,
        version: from_bits(row.int(1)?),
        cold: ColdFields {
            status: StoredStatus::parse(&row.text(2)?)?,
            state: row.text(3)?,
            required: row.boolean(4)?,
            recovery_generation: from_bits(row.int(5)?),
            recovery: row.opt_text(6)?,
        },
        last_step: row.opt_int(7)?.map(ordered_from_sql),
        drift: row.int(8)?,
        last_used_at: row.opt_int(9)?.map(ordered_from_sql),
        recovery_used: from_bits(row.int(10)?),
        failures: u32::try_from(row.int(11)?).unwrap_or(u32::MAX),
        last_failure_at: row.opt_int(12)?.map(ordered_from_sql),
    })
}
