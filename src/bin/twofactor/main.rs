//! `twofactor`: an oathtool-like command line over the `twofactor` crate.
//!
//! Exit codes: 0 success; 1 a code that does not verify, or entries of an import refused; 2 bad
//! arguments, an invalid URI, or a file, store or key an import cannot use.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::ExitCode;

mod import;

use clap::{Args, Parser, Subcommand};
use serde_json::json;
use twofactor::{
    Algorithm, Digits, Hotp, HotpParams, HotpState, OtpAuthUri, OtpKind, Period, QrCode,
    RecoveryCodeSet, RecoveryConfig, Secret, Totp, TotpParams, TotpState, Window,
};

#[derive(Parser)]
#[command(
    name = "twofactor",
    version,
    about = "HOTP/TOTP codes, otpauth URIs and recovery codes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the code for a secret at a time (TOTP) or counter (HOTP).
    Code {
        #[command(flatten)]
        otp: OtpArgs,
    },
    /// Verify a code; prints the matched time step (or counter) and exits 0, or exits 1.
    Verify {
        #[command(flatten)]
        otp: OtpArgs,
        /// The code to check.
        #[arg(long)]
        code: String,
        /// TOTP: steps accepted each side of the current one. HOTP: counters accepted after
        /// --counter.
        #[arg(long, default_value_t = 1)]
        window: u8,
    },
    /// Print a new random base32 secret.
    Secret {
        /// Length in bytes (16 to 256).
        #[arg(long, default_value_t = 20)]
        bytes: usize,
    },
    /// Make a new sealing key (256 bits from the operating system) as `ID:BASE64`, the form
    /// `TWOFACTOR_KEY` and the web example read: printed, or written to a new file readable by
    /// its owner only.
    Key {
        /// The key's id in the key ring (a new id for each rotation).
        #[arg(long, default_value_t = 1)]
        id: u32,
        /// Write it to this new file (owner-only permissions; an existing file is not touched)
        /// instead of printing it.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Print an otpauth:// URI for a secret.
    Uri {
        /// Base32 secret (at least 128 bits).
        #[arg(long)]
        secret: String,
        /// Issuer (service name).
        #[arg(long)]
        issuer: String,
        /// Account name.
        #[arg(long)]
        account: String,
        #[command(flatten)]
        params: ParamArgs,
        /// Make an HOTP URI.
        #[arg(long)]
        hotp: bool,
        /// HOTP initial counter.
        #[arg(long, default_value_t = 0)]
        counter: u64,
    },
    /// Print an otpauth:// URI's contents as one JSON object.
    Inspect {
        /// The URI.
        uri: String,
    },
    /// Render an otpauth:// URI as a QR code (locally; nothing is sent anywhere).
    Qr {
        /// The URI.
        uri: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = QrFormat::Terminal)]
        format: QrFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// SVG size in pixels, or PNG pixels per module.
        #[arg(long)]
        size: Option<u32>,
    },
    /// Import existing enrolments from a JSON-lines file into a store.
    #[command(after_help = IMPORT_HELP)]
    Import(import::ImportArgs),
    /// Print a new set of recovery codes, one per line.
    Recovery {
        /// Number of codes.
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// Characters per code (5 bits each).
        #[arg(long, default_value_t = 16)]
        length: usize,
    },
}

const IMPORT_HELP: &str = "\
File format: one JSON object per line; blank lines and lines starting with # are skipped.
  user             the application's user id (required)
  otp              an otpauth://totp/ URI, an otpauth-migration://offline?data=... URI,
                   or a base32 secret (required)
  entry            which entry of a migration payload, from 0 (when it holds several)
  algorithm, digits, period
                   with a base32 secret only (default SHA1, 6, 30)
  last_step        the last time step the old system accepted a code at
  recovery_codes   unused plain recovery codes (10 to 40 Crockford base32 or hex
                   characters each), hashed on import
  recovery_hashes  a recovery record in this crate's stored form ($twofactor-recovery$...)
  comment          ignored
Example:
  {\"user\": \"alice\", \"otp\": \"otpauth://totp/Old:alice?secret=...\", \"last_step\": 56666666}
  {\"user\": \"bob\", \"otp\": \"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\", \"recovery_codes\": [\"0123-4567-89ab-cdef\"]}

The store is --sqlite PATH, or --postgres-env VAR / --mysql-env VAR naming the environment
variable that holds the database URL (each needs the build's store feature). The sealing key
comes from the environment variable named by --key-env (default TWOFACTOR_KEY), as ID:BASE64. A refused line is reported with its number and reason, never with its secret or
codes; the others are imported. A progress bar is drawn when standard error is a terminal.
Exit codes: 0 every entry imported; 1 some refused; 2 the file, store or key cannot be used.";

#[derive(Clone, Copy, clap::ValueEnum)]
enum QrFormat {
    Svg,
    Png,
    Terminal,
}

#[derive(Args)]
struct ParamArgs {
    /// SHA1, SHA256 or SHA512.
    #[arg(long, default_value = "SHA1", value_parser = parse_algorithm)]
    algorithm: Algorithm,
    /// Digits per code (6 to 8).
    #[arg(long, default_value = "6", value_parser = parse_digits)]
    digits: Digits,
    /// TOTP time step in seconds.
    #[arg(long, default_value = "30", value_parser = parse_period)]
    period: Period,
}

#[derive(Args)]
struct OtpArgs {
    /// Base32 secret (80 bits accepted, for existing enrolments).
    #[arg(long)]
    secret: String,
    /// TOTP: Unix time in seconds (default: now).
    #[arg(long, conflicts_with = "counter")]
    time: Option<u64>,
    /// HOTP: the counter (implies --hotp); for verify, the next counter expected.
    #[arg(long)]
    counter: Option<u64>,
    #[command(flatten)]
    params: ParamArgs,
    /// Use HOTP instead of TOTP.
    #[arg(long)]
    hotp: bool,
}

fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse().map_err(|e| format!("{e}"))
}

fn parse_digits(s: &str) -> Result<Digits, String> {
    s.parse().map_err(|e| format!("{e}"))
}

fn parse_period(s: &str) -> Result<Period, String> {
    s.parse().map_err(|e| format!("{e}"))
}

/// A failure with its exit code and message.
struct Failure(u8, String);

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure(2, message.to_string())
}

enum Otp {
    Totp(Totp, u64),
    Hotp(Hotp, u64),
}

impl OtpArgs {
    fn build(&self) -> Result<Otp, Failure> {
        let secret = Secret::danger_from_base32_allow_80_bit(&self.secret)
            .map_err(|e| usage(format!("--secret: {e}")))?;
        let p = &self.params;
        if self.hotp || self.counter.is_some() {
            if self.time.is_some() {
                return Err(usage("--time does not apply to HOTP"));
            }
            let hotp = Hotp::new(&secret, HotpParams::new(p.algorithm, p.digits));
            Ok(Otp::Hotp(hotp, self.counter.unwrap_or(0)))
        } else {
            let totp = Totp::new(&secret, TotpParams::new(p.algorithm, p.digits, p.period));
            let time = match self.time {
                Some(t) => t,
                None => std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_err(|_| usage("the system clock reads before 1970"))?
                    .as_secs(),
            };
            Ok(Otp::Totp(totp, time))
        }
    }
}

/// `twofactor key`: a new key as `ID:BASE64`, printed (returned) or written to `out`.
fn new_key(id: u32, out: Option<&std::path::Path>) -> Result<String, Failure> {
    use std::io::Write as _;
    let key = twofactor::EncryptionKey::generate(id).map_err(|e| Failure(2, e.to_string()))?;
    let text = key.to_tagged();
    let Some(path) = out else {
        return Ok(text.to_string());
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(path)
        .and_then(|mut file| writeln!(file, "{}", &*text));
    match written {
        Ok(()) => Ok(format!("wrote key {id} to {}", path.display())),
        Err(e) => Err(Failure(2, format!("{}: {e}", path.display()))),
    }
}

fn run(cli: Cli) -> Result<String, Failure> {
    match cli.command {
        Command::Code { otp } => match otp.build()? {
            Otp::Totp(totp, time) => totp.generate_at(time).map(|c| c.to_string()).map_err(usage),
            Otp::Hotp(hotp, counter) => Ok(hotp.generate(counter).to_string()),
        },
        Command::Verify { otp, code, window } => {
            let result = match otp.build()? {
                Otp::Totp(totp, time) => totp
                    .with_window(Window::symmetric(window))
                    .verify(&code, time, &TotpState::default())
                    .map(|m| m.step),
                Otp::Hotp(hotp, counter) => hotp
                    .with_look_ahead(window)
                    .verify(&code, &HotpState::starting_at(counter))
                    .map(|m| m.counter),
            };
            result
                .map(|n| n.to_string())
                .map_err(|e| Failure(1, e.to_string()))
        }
        Command::Secret { bytes } => Secret::generate_len(bytes)
            .map(|s| s.expose_base32().to_string())
            .map_err(|e| usage(format!("--bytes: {e}"))),
        Command::Key { id, out } => new_key(id, out.as_deref()),
        Command::Uri {
            secret,
            issuer,
            account,
            params,
            hotp,
            counter,
        } => {
            let secret =
                Secret::from_base32(&secret).map_err(|e| usage(format!("--secret: {e}")))?;
            let uri = if hotp {
                OtpAuthUri::hotp(secret, &account, counter)
            } else {
                OtpAuthUri::totp(secret, &account).map(|u| u.with_period(params.period))
            }
            .and_then(|u| u.with_issuer(&issuer))
            .map_err(usage)?
            .with_algorithm(params.algorithm)
            .with_digits(params.digits);
            for warning in uri.warnings() {
                eprintln!("warning: {warning}");
            }
            Ok(uri.expose_uri().to_string())
        }
        Command::Inspect { uri } => {
            let uri = OtpAuthUri::parse(&uri).map_err(|e| usage(format!("invalid URI: {e}")))?;
            let warnings: Vec<String> = uri.warnings().iter().map(ToString::to_string).collect();
            let mut object = json!({
                "issuer": uri.issuer(),
                "account": uri.account(),
                "secret": &*uri.secret().expose_base32(),
                "algorithm": uri.algorithm().as_str(),
                "digits": uri.digits().get(),
                "warnings": warnings,
            });
            match uri.kind() {
                OtpKind::Totp { period } => {
                    object["type"] = json!("totp");
                    object["period"] = json!(period.seconds());
                }
                OtpKind::Hotp { counter } => {
                    object["type"] = json!("hotp");
                    object["counter"] = json!(counter);
                }
            }
            Ok(object.to_string())
        }
        Command::Qr {
            uri,
            format,
            out,
            size,
        } => {
            let uri = OtpAuthUri::parse(&uri).map_err(|e| usage(format!("invalid URI: {e}")))?;
            let qr = QrCode::new(&uri).map_err(usage)?;
            let bytes: Vec<u8> = match format {
                QrFormat::Svg => qr.to_svg(size.unwrap_or(320)).as_bytes().to_vec(),
                QrFormat::Png => qr.to_png(size.unwrap_or(8)).map_err(usage)?.to_vec(),
                QrFormat::Terminal => qr.to_terminal().as_bytes().to_vec(),
            };
            match out {
                Some(path) => {
                    std::fs::write(&path, &bytes)
                        .map_err(|e| usage(format!("--out {}: {e}", path.display())))?;
                    Ok(String::new())
                }
                None => {
                    use std::io::Write;
                    let mut stdout = std::io::stdout().lock();
                    stdout
                        .write_all(&bytes)
                        .and_then(|()| stdout.flush())
                        .map_err(|e| Failure(1, e.to_string()))?;
                    Ok(String::new())
                }
            }
        }
        Command::Import(args) => import::run(args),
        Command::Recovery { count, length } => {
            let config = RecoveryConfig::new(count, length).map_err(usage)?;
            let set = RecoveryCodeSet::generate(config).map_err(usage)?;
            Ok(set
                .codes()
                .iter()
                .map(|c| c.expose().to_string())
                .collect::<Vec<_>>()
                .join("\n"))
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            ExitCode::SUCCESS
        }
        Err(Failure(code, message)) => {
            eprintln!("twofactor: {message}");
            ExitCode::from(code)
        }
    }
}
