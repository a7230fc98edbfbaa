//! A login's read and write on one connection of a SQL driver, for the stores whose driver is
//! async ([`SecretStore::read_and_settle`](super::SecretStore::read_and_settle)): each dialect
//! gives its two statements ([`LoginSql`]), each driver runs them on the connection it holds
//! ([`RunSql`]), and [`LoginOn`] joins the two into the loop's read and write.

use core::future::Future;

use super::sql_statement::{Columns, Statement, read_user};
use super::{Attempt, SettleOn, StoreError, StoredUser};

/// A login's two statements, as each dialect writes them: the PostgreSQL and SQLite tables.
pub(crate) trait LoginSql: Sync {
    /// The user's row.
    fn get<'a>(&'a self, user_id: &'a str) -> Statement<'a>;
    /// The attempt's conditional write (`None`: one that can never hold, such as a recovery
    /// code index past the mask).
    fn settle_attempt<'a>(
        &'a self,
        user_id: &'a str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> Option<Statement<'a>>;

    /// A login on `conn` ([`LoginOn`]).
    fn login_on<'a, C: RunSql>(&'a self, conn: C, user_id: &'a str, at: u64) -> LoginOn<'a, C, Self>
    where
        Self: Sized,
    {
        LoginOn {
            conn,
            sql: self,
            user_id,
            at,
        }
    }
}

/// [`LoginSql`] from a dialect's tables' own methods of the same names.
macro_rules! login_sql {
    ($tables:ty) => {
        impl LoginSql for $tables {
            fn get<'a>(&'a self, user_id: &'a str) -> Statement<'a> {
                <$tables>::get(self, user_id)
            }

            fn settle_attempt<'a>(
                &'a self,
                user_id: &'a str,
                expected_failures: u32,
                attempt: Attempt,
                at: u64,
            ) -> Option<Statement<'a>> {
                <$tables>::settle_attempt(self, user_id, expected_failures, attempt, at)
            }
        }
    };
}

#[cfg(any(feature = "postgres", feature = "sqlx-postgres"))]
login_sql!(super::postgres_sql::PgTables);
#[cfg(feature = "sqlx-sqlite")]
login_sql!(super::sqlite_sql::SqliteTables);

/// A driver's connection, held for one operation, running [`Statement`]s (again on the
/// driver's retryable errors).
pub(crate) trait RunSql: Send {
    /// A row as the driver returns it.
    type Row: Columns;
    /// Runs a statement; returns its rows.
    fn read(
        &mut self,
        statement: &Statement<'_>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, StoreError>> + Send;
    /// Runs a statement; returns how many rows it wrote.
    fn write(
        &mut self,
        statement: &Statement<'_>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// [`SecretStore::read_and_settle`](super::SecretStore::read_and_settle) on one connection of a
/// SQL driver: the dialect's `get`, then its `settle_attempt`, as often as the loop asks.
pub(crate) struct LoginOn<'a, C, T> {
    /// The connection, held for the whole login.
    pub(crate) conn: C,
    /// The dialect's statements.
    pub(crate) sql: &'a T,
    /// Whose record.
    pub(crate) user_id: &'a str,
    /// The attempt's time.
    pub(crate) at: u64,
}

impl<C: RunSql, T: LoginSql> SettleOn for LoginOn<'_, C, T> {
    async fn read(&mut self) -> Result<Option<StoredUser>, StoreError> {
        let rows = self.conn.read(&self.sql.get(self.user_id)).await?;
        rows.first().map(read_user).transpose()
    }

    async fn settle(
        &mut self,
        expected_failures: u32,
        attempt: Attempt,
    ) -> Result<bool, StoreError> {
        let statement = self
            .sql
            .settle_attempt(self.user_id, expected_failures, attempt, self.at);
        Ok(match statement {
            Some(statement) => self.conn.write(&statement).await? > 0,
            None => false,
        })
    }
}
