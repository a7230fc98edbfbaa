//! `twofactor import`: a bulk import of existing enrolments from a JSON-lines file.
//!
//! One JSON object per line (blank lines and lines starting with `#` are skipped):
//!
//! | field | | |
//! |---|---|---|
//! | `user` | required | the application's user id |
//! | `otp` | required | an `otpauth://totp/...` URI, an `otpauth-migration://offline?data=...` URI, or a base32 secret |
//! | `entry` | optional | which entry of a migration payload (from 0); needed when it holds more than one |
//! | `algorithm`, `digits`, `period` | optional | with a base32 secret only (default `SHA1`, `6`, `30`) |
//! | `last_step` | optional | the last time step the old system accepted (replayed codes stay refused) |
//! | `recovery_codes` | optional | unused plain recovery codes, hashed on import |
//! | `recovery_hashes` | optional | a recovery record in this crate's stored form |
//! | `comment` | optional | ignored |
//!
//! Every line is checked on its own; a refused line is reported with its number and a typed
//! reason, never with its secret or codes, and the other lines go on.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use indicatif::ProgressBar;
use serde_json::{Map, Value};
use twofactor::store::AnyStore;
use twofactor::{
    Algorithm, Digits, EncryptionKey, EnrollmentFlow, EnrollmentImport, FlowConfig, FlowError,
    HashedRecoveryCodes, ImportError, KeyRing, MemoryStore, MigrationEntryError, MigrationError,
    MigrationPayload, OtpAuthUri, ParamError, Period, SecretStore, TotpParams, UriError,
    UriWarning,
};
use zeroize::{Zeroize, Zeroizing};

use crate::Failure;

/// Longest line read (a migration URI of 64 KiB plus the other fields).
const MAX_LINE: usize = 80 * 1024;

#[derive(Args)]
pub(crate) struct ImportArgs {
    /// The JSON-lines file (format below).
    file: PathBuf,
    /// Check every line (and, with a store, who is already enrolled) without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// The SQLite database to import into (created and its schema migrated if needed; a dry
    /// run only reads an existing one).
    #[arg(long, group = "store")]
    sqlite: Option<PathBuf>,
    /// The environment variable holding a PostgreSQL URL to import into (the schema is migrated
    /// if needed; a dry run only checks it). A plain connection: for a database on the same
    /// host or a private network.
    #[arg(long, value_name = "VAR", group = "store")]
    postgres_env: Option<String>,
    /// The environment variable holding a MySQL or MariaDB URL to import into (the schema is
    /// migrated if needed; a dry run only checks it).
    #[arg(long, value_name = "VAR", group = "store")]
    mysql_env: Option<String>,
    /// The users table, if the application renamed it (default `twofactor_users`).
    #[arg(long)]
    table: Option<String>,
    /// PostgreSQL: the schema holding the tables (default: the connection's).
    #[arg(long, requires = "postgres_env")]
    schema: Option<String>,
    /// The environment variable holding the sealing key as `ID:BASE64` (the key ring's current
    /// key). Not needed for a dry run.
    #[arg(long, default_value = "TWOFACTOR_KEY")]
    key_env: String,
    /// Replace the second factor of users who already have one (otherwise they are refused).
    #[arg(long)]
    replace_active: bool,
    /// Accept secrets down to 80 bits (some large providers issued them). Below NIST SP
    /// 800-63B's 112-bit minimum: for moving such users until they enrol a new device.
    #[arg(long)]
    danger_allow_80_bit: bool,
}

/// Why one line was refused. Never holds a secret or a code.
#[derive(Debug)]
enum LineError {
    TooLong,
    Json {
        column: usize,
    },
    NotObject,
    Missing(&'static str),
    Type(&'static str),
    UnknownField(Option<String>),
    ParamsWithUri,
    EntryWithoutMigration,
    Param(ParamError),
    Uri(UriError),
    Migration(MigrationError),
    MigrationEntryNeeded {
        entries: usize,
    },
    MigrationEntryMissing {
        entry: u64,
        entries: usize,
    },
    MigrationEntry {
        entry: usize,
        error: MigrationEntryError,
    },
    Import(ImportError),
    DuplicateUser {
        first_line: usize,
    },
    Flow(FlowError),
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::TooLong => write!(f, "line longer than {MAX_LINE} bytes"),
            LineError::Json { column } => write!(f, "not JSON (syntax error at column {column})"),
            LineError::NotObject => f.write_str("not a JSON object"),
            LineError::Missing(field) => write!(f, "missing field `{field}`"),
            LineError::Type(field) => write!(f, "field `{field}` has the wrong type"),
            LineError::UnknownField(Some(name)) => write!(f, "unknown field `{name}`"),
            LineError::UnknownField(None) => f.write_str("an unknown field"),
            LineError::ParamsWithUri => f.write_str(
                "`algorithm`, `digits` and `period` go with a base32 secret; a URI carries its own",
            ),
            LineError::EntryWithoutMigration => {
                f.write_str("`entry` goes with an otpauth-migration URI only")
            }
            LineError::Param(e) => write!(f, "invalid parameter: {e}"),
            LineError::Uri(e) => write!(f, "invalid otpauth URI: {e}"),
            LineError::Migration(e) => write!(f, "invalid otpauth-migration URI: {e}"),
            LineError::MigrationEntryNeeded { entries } => write!(
                f,
                "the otpauth-migration payload holds {entries} entries: choose one with `entry`"
            ),
            LineError::MigrationEntryMissing { entry, entries } => write!(
                f,
                "entry {entry} does not exist (the payload holds {entries} entries)"
            ),
            LineError::MigrationEntry { entry, error } => {
                write!(f, "otpauth-migration entry {entry} refused: {error}")
            }
            LineError::Import(e) => write!(f, "{e}"),
            LineError::DuplicateUser { first_line } => {
                write!(f, "the same user as line {first_line}")
            }
            LineError::Flow(FlowError::Import(e)) => write!(f, "{e}"),
            LineError::Flow(FlowError::AlreadyEnrolled) => f.write_str(
                "two-factor authentication is already active (use --replace-active to replace it)",
            ),
            LineError::Flow(e) => write!(f, "{e}"),
        }
    }
}

impl From<ImportError> for LineError {
    fn from(e: ImportError) -> Self {
        LineError::Import(e)
    }
}

/// One line, read and checked: who, and what to import.
struct Entry {
    user: String,
    import: EnrollmentImport,
    short_secret: bool,
}

/// Runs the command; prints one line per entry and a summary to standard output.
///
/// Exit codes: 0 every entry imported (or, in a dry run, importable); 1 some refused; 2 the
/// file, the store or the key could not be used.
pub(crate) fn run(args: ImportArgs) -> Result<String, Failure> {
    // Timers and I/O for the database drivers (as far as the build's features have them).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(2, format!("starting the runtime: {e}")))?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: ImportArgs) -> Result<String, Failure> {
    let text = Zeroizing::new(
        std::fs::read_to_string(&args.file)
            .map_err(|e| Failure(2, format!("{}: {e}", args.file.display())))?,
    );
    let store = open_store(&args).await?;
    if store.is_none() && !args.dry_run {
        return Err(Failure(
            2,
            "nothing to import into: give --sqlite PATH, --postgres-env VAR or --mysql-env VAR, \
             or --dry-run to check the file only"
                .to_owned(),
        ));
    }
    let keys = if args.dry_run {
        // A dry run seals nothing that is kept.
        KeyRing::new(EncryptionKey::generate(1).map_err(|e| Failure(2, e.to_string()))?)
    } else {
        key_ring(&args.key_env)?
    };
    let config = FlowConfig::new("twofactor import");
    // The dry run imports into memory, so that every check the real import makes is made.
    let target = match (&store, args.dry_run) {
        (Some(store), false) => store.clone(),
        _ => AnyStore::new(MemoryStore::new()),
    };
    let flow = EnrollmentFlow::new(target, keys, config).map_err(|e| Failure(2, e.to_string()))?;

    let lines: Vec<&str> = text.lines().collect();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(lines.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    let mut report = String::new();
    let (mut imported, mut refused) = (0usize, 0usize);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, line) in lines.iter().enumerate() {
        bar.inc(1);
        let number = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (who, read) = match object(trimmed) {
            Ok(mut fields) => {
                // Named in the report as soon as the line names a user.
                let who = fields
                    .get("user")
                    .and_then(Value::as_str)
                    .filter(|u| !u.is_empty())
                    .map(|u| format!(" {}", shown(u)))
                    .unwrap_or_default();
                let read = read_fields(&fields, args.danger_allow_80_bit);
                scrub(&mut fields);
                (who, read)
            }
            Err(e) => (String::new(), Err(e)),
        };
        let result = match read {
            Ok(entry) => match seen.get(&entry.user) {
                Some(&first_line) => Err(LineError::DuplicateUser { first_line }),
                None => {
                    seen.insert(entry.user.clone(), number);
                    apply(&flow, store.as_ref(), &args, entry).await
                }
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(note) => {
                imported += 1;
                let verb = if args.dry_run {
                    "would import"
                } else {
                    "imported"
                };
                report.push_str(&format!("line {number}{who}: {verb}{note}\n"));
            }
            Err(e) => {
                refused += 1;
                report.push_str(&format!("line {number}{who}: refused: {e}\n"));
            }
        }
    }
    bar.finish_and_clear();
    let total = imported + refused;
    if args.dry_run {
        report.push_str(&format!(
            "dry run: would import {imported}, refused {refused} of {total} entries; nothing was written"
        ));
    } else {
        report.push_str(&format!(
            "imported {imported}, refused {refused} of {total} entries"
        ));
    }
    if refused > 0 {
        println!("{report}");
        Err(Failure(1, format!("{refused} of {total} entries refused")))
    } else {
        Ok(report)
    }
}

/// Imports one entry (or, in a dry run, into memory after checking the real store); returns a
/// note for the report.
async fn apply(
    flow: &EnrollmentFlow<AnyStore>,
    store: Option<&AnyStore>,
    args: &ImportArgs,
    entry: Entry,
) -> Result<String, LineError> {
    // A dry run reads the real store, so its report names every user whose active factor the
    // real run would refuse or replace.
    let mut would_replace = false;
    if args.dry_run
        && let Some(store) = store
    {
        let active = store
            .get(&entry.user)
            .await
            .map_err(|e| LineError::Flow(e.into()))?
            .is_some_and(|record| record.cold.status == twofactor::store::StoredStatus::Active);
        if active && !args.replace_active {
            return Err(LineError::Flow(FlowError::AlreadyEnrolled));
        }
        would_replace = active;
    }
    let import = if args.replace_active {
        entry.import.replace_active()
    } else {
        entry.import
    };
    let last_step = import.last_step();
    let done = flow
        .import(&entry.user, import)
        .await
        .map_err(LineError::Flow)?;
    let mut notes = Vec::new();
    if done.replaced || would_replace {
        notes.push("replacing the active factor".to_owned());
    }
    if entry.short_secret {
        notes.push("80-bit secret".to_owned());
    }
    if let Some(step) = last_step {
        notes.push(format!("last step {step}"));
    }
    notes.push(format!("{} recovery codes", done.recovery_codes));
    Ok(format!(" ({})", notes.join(", ")))
}

/// Overwrites every string of a line's fields (its secret and codes among them) before the
/// parsed line is freed.
fn scrub(fields: &mut Map<String, Value>) {
    fields.values_mut().for_each(scrub_value);
}

fn scrub_value(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        Value::Object(fields) => fields.values_mut().for_each(scrub_value),
        _ => {}
    }
}

/// The user id as printed: control characters escaped, at most 64 characters.
fn shown(user: &str) -> String {
    let mut out: String = user
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    if user.chars().count() > 64 {
        out.push_str("...");
    }
    out
}

async fn open_store(args: &ImportArgs) -> Result<Option<AnyStore>, Failure> {
    if let Some(var) = &args.postgres_env {
        return open_postgres(var, args).await.map(Some);
    }
    if let Some(var) = &args.mysql_env {
        return open_mysql(var, args).await.map(Some);
    }
    let Some(path) = &args.sqlite else {
        return Ok(None);
    };
    #[cfg(feature = "sqlite")]
    {
        if args.dry_run && !path.exists() {
            return Err(Failure(
                2,
                format!(
                    "--sqlite {}: no such database (a dry run creates nothing)",
                    path.display()
                ),
            ));
        }
        let store = match &args.table {
            Some(table) => twofactor::SqliteStore::open_with_table_name(path, table).await,
            None => twofactor::SqliteStore::open(path).await,
        }
        .map_err(|e| Failure(2, format!("--sqlite {}: {e}", path.display())))?;
        Ok(Some(AnyStore::new(store)))
    }
    #[cfg(not(feature = "sqlite"))]
    {
        Err(Failure(
            2,
            format!(
                "--sqlite {}: this build has no SQLite store (feature `sqlite`)",
                path.display()
            ),
        ))
    }
}

/// A database URL from the environment variable `var` (never from the command line, where
/// other users of the machine could read its password).
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
fn url_from(var: &str) -> Result<Zeroizing<String>, Failure> {
    std::env::var(var)
        .map(Zeroizing::new)
        .map_err(|_| Failure(2, format!("set {var} to the database URL")))
}

async fn open_postgres(var: &str, args: &ImportArgs) -> Result<AnyStore, Failure> {
    #[cfg(feature = "postgres")]
    {
        let url = url_from(var)?;
        let mut options = twofactor::store::PostgresOptions::default();
        if args.dry_run {
            options = options.without_migration();
        }
        if let Some(schema) = &args.schema {
            options = options.with_schema(schema);
        }
        if let Some(table) = &args.table {
            options = options.with_table_name(table);
        }
        let store = twofactor::PostgresStore::connect_with(&url, options, tokio_postgres::NoTls)
            .await
            .map_err(|e| Failure(2, format!("--postgres-env {var}: {e}")))?;
        Ok(AnyStore::new(store))
    }
    #[cfg(not(feature = "postgres"))]
    {
        let _ = args;
        Err(Failure(
            2,
            format!(
                "--postgres-env {var}: this build has no PostgreSQL store (feature `postgres`)"
            ),
        ))
    }
}

async fn open_mysql(var: &str, args: &ImportArgs) -> Result<AnyStore, Failure> {
    #[cfg(feature = "mysql")]
    {
        let url = url_from(var)?;
        let failed = |e: twofactor::StoreError| Failure(2, format!("--mysql-env {var}: {e}"));
        let pool = sqlx::MySqlPool::connect(&url)
            .await
            .map_err(|e| failed(twofactor::StoreError::backend(e)))?;
        let mut store = twofactor::MySqlStore::new(pool);
        if let Some(table) = &args.table {
            store = store.with_table_name(table).map_err(failed)?;
        }
        if args.dry_run {
            store.check_schema().await.map_err(failed)?;
        } else {
            store.migrate().await.map_err(failed)?;
        }
        Ok(AnyStore::new(store))
    }
    #[cfg(not(feature = "mysql"))]
    {
        let _ = args;
        Err(Failure(
            2,
            format!("--mysql-env {var}: this build has no MySQL store (feature `mysql`)"),
        ))
    }
}

/// The key ring from `ID:BASE64` in the environment variable `var`.
fn key_ring(var: &str) -> Result<KeyRing, Failure> {
    let value = Zeroizing::new(std::env::var(var).map_err(|_| {
        Failure(
            2,
            format!("set {var} to the sealing key as ID:BASE64 (or use --dry-run)"),
        )
    })?);
    let key = EncryptionKey::from_tagged(&value).map_err(|e| Failure(2, format!("{var}: {e}")))?;
    Ok(KeyRing::new(key))
}

/// One line as a JSON object.
fn object(line: &str) -> Result<Map<String, Value>, LineError> {
    if line.len() > MAX_LINE {
        return Err(LineError::TooLong);
    }
    let value: Value =
        serde_json::from_str(line).map_err(|e| LineError::Json { column: e.column() })?;
    match value {
        Value::Object(fields) => Ok(fields),
        _ => Err(LineError::NotObject),
    }
}

/// Reads one line's fields into an entry.
fn read_fields(fields: &Map<String, Value>, allow_80_bit: bool) -> Result<Entry, LineError> {
    const KNOWN: [&str; 10] = [
        "user",
        "otp",
        "entry",
        "algorithm",
        "digits",
        "period",
        "last_step",
        "recovery_codes",
        "recovery_hashes",
        "comment",
    ];
    if let Some(name) = fields.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        // Quoted only when it looks like a misspelt field name, never when it could be a
        // secret pasted in the wrong place.
        let quotable = name.len() <= 32 && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        return Err(LineError::UnknownField(quotable.then(|| name.clone())));
    }
    let user = string(fields, "user")?.ok_or(LineError::Missing("user"))?;
    if user.is_empty() {
        return Err(LineError::Missing("user"));
    }
    let otp = Zeroizing::new(
        string(fields, "otp")?
            .ok_or(LineError::Missing("otp"))?
            .trim()
            .to_owned(),
    );
    let has_params = ["algorithm", "digits", "period"]
        .iter()
        .any(|k| fields.contains_key(*k));
    let entry = number(fields, "entry")?;
    let (mut import, short_secret) = if starts_with_ignore_case(&otp, "otpauth-migration:") {
        if has_params {
            return Err(LineError::ParamsWithUri);
        }
        let payload = MigrationPayload::parse(&otp).map_err(LineError::Migration)?;
        let entries = payload.entries().len();
        let index = match (entry, entries) {
            (Some(i), _) => usize::try_from(i)
                .ok()
                .filter(|&i| i < entries)
                .ok_or(LineError::MigrationEntryMissing { entry: i, entries })?,
            (None, 1) => 0,
            (None, _) => return Err(LineError::MigrationEntryNeeded { entries }),
        };
        let uri = match payload.into_entries().into_iter().nth(index) {
            Some(Ok(uri)) => uri,
            Some(Err(error)) => {
                return Err(LineError::MigrationEntry {
                    entry: index,
                    error,
                });
            }
            None => return Err(LineError::MigrationEntryNeeded { entries }),
        };
        from_uri(&uri, allow_80_bit)?
    } else if starts_with_ignore_case(&otp, "otpauth:") {
        if has_params {
            return Err(LineError::ParamsWithUri);
        }
        if entry.is_some() {
            return Err(LineError::EntryWithoutMigration);
        }
        let uri = OtpAuthUri::parse(&otp).map_err(LineError::Uri)?;
        from_uri(&uri, allow_80_bit)?
    } else {
        if entry.is_some() {
            return Err(LineError::EntryWithoutMigration);
        }
        let params = params(fields)?;
        let strict = EnrollmentImport::from_base32(&otp, params);
        match strict {
            Err(ImportError::Secret(twofactor::SecretError::TooShort { .. })) if allow_80_bit => (
                EnrollmentImport::danger_from_base32_allow_80_bit(&otp, params)?,
                true,
            ),
            other => (other?, false),
        }
    };
    if let Some(step) = number(fields, "last_step")? {
        import = import.with_last_step(step);
    }
    if let Some(codes) = fields.get("recovery_codes") {
        let Value::Array(items) = codes else {
            return Err(LineError::Type("recovery_codes"));
        };
        let codes: Vec<&str> = items
            .iter()
            .map(|v| v.as_str().ok_or(LineError::Type("recovery_codes")))
            .collect::<Result<_, _>>()?;
        import = import.with_recovery_codes(&codes)?;
    }
    if let Some(text) = string(fields, "recovery_hashes")? {
        let set: HashedRecoveryCodes = text
            .parse()
            .map_err(|_| LineError::Type("recovery_hashes"))?;
        import = import.with_hashed_recovery_codes(set)?;
    }
    Ok(Entry {
        user: user.to_owned(),
        import,
        short_secret,
    })
}

fn from_uri(uri: &OtpAuthUri, allow_80_bit: bool) -> Result<(EnrollmentImport, bool), LineError> {
    let short = uri
        .warnings()
        .iter()
        .any(|w| matches!(w, UriWarning::ShortSecret { .. }));
    let import = if allow_80_bit {
        EnrollmentImport::danger_from_uri_allow_80_bit(uri)?
    } else {
        EnrollmentImport::from_uri(uri)?
    };
    Ok((import, short))
}

fn params(fields: &Map<String, Value>) -> Result<TotpParams, LineError> {
    let algorithm = match string(fields, "algorithm")? {
        Some(a) => a.parse::<Algorithm>().map_err(LineError::Param)?,
        None => Algorithm::default(),
    };
    let digits = match number(fields, "digits")? {
        Some(d) => Digits::new(u8::try_from(d).map_err(|_| LineError::Type("digits"))?)
            .map_err(LineError::Param)?,
        None => Digits::default(),
    };
    let period = match number(fields, "period")? {
        Some(p) => Period::new(p).map_err(LineError::Param)?,
        None => Period::default(),
    };
    Ok(TotpParams::new(algorithm, digits, period))
}

fn string<'a>(
    fields: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, LineError> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(LineError::Type(name)),
    }
}

fn number(fields: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, LineError> {
    match fields.get(name) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or(LineError::Type(name)),
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}
