//! `PostgresStore` passes the store conformance suite, and races correctly across two separate
//! connection pools (two "servers"). Reads the server from `TWOFACTOR_TEST_POSTGRES_URL`
//! (`.ci/run` sets it); without it, prints that it skips.
#![cfg(feature = "postgres")]

use twofactor::store::conformance;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use twofactor::PostgresStore;
use twofactor::store::{SecretStore, StoredStatus};

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn url() -> Option<String> {
    crate::support::postgres_url()
}

/// A schema of its own for each store, so runs and tests never collide.
fn fresh_schema() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "twofactor_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

async fn drop_schema(url: &str, schema: &str) {
    if let Ok((client, conn)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_conformance() {
    let Some(url) = url() else { return };
    let schemas = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (u, s) = (url.clone(), schemas.clone());
    conformance::run_all(move || {
        let (url, schemas) = (u.clone(), s.clone());
        async move {
            let schema = fresh_schema();
            schemas.lock().unwrap().push(schema.clone());
            PostgresStore::connect_with_schema(&url, &schema)
                .await
                .unwrap()
        }
    })
    .await;
    let used: Vec<String> = schemas.lock().unwrap().clone();
    for schema in used {
        drop_schema(&url, &schema).await;
    }
}

/// Two stores with separate pools on the same tables, as two application servers would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_race_correctly() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let a = Arc::new(
        PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap(),
    );
    let b = Arc::new(
        PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap(),
    );
    conformance::race_across(a, b).await;
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn invalid_schema_names_are_refused() {
    let Some(url) = url() else { return };
    for bad in [
        "",
        "1abc",
        "Robert'); DROP TABLE x;--",
        "UPPER",
        &"a".repeat(64),
    ] {
        assert!(
            PostgresStore::connect_with_schema(&url, bad).await.is_err(),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_backend_error_shows_its_cause() {
    let Some(url) = url() else { return };
    // The same server, a database that does not exist.
    let (base, _) = url.rsplit_once('/').unwrap();
    let err = PostgresStore::connect(&format!("{base}/twofactor_no_such_database"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("twofactor_no_such_database") && text.contains("does not exist"),
        "{text}"
    );
    assert!(std::error::Error::source(&err).is_some());
}

/// The application's own pool (here a plain deadpool pool, as a service builds it).
fn application_pool(url: &str) -> deadpool_postgres::Pool {
    let mut config = deadpool_postgres::Config::new();
    config.url = Some(url.to_owned());
    config
        .create_pool(
            Some(deadpool_postgres::Runtime::Tokio1),
            tokio_postgres::NoTls,
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_the_applications_pool_with_its_own_table_name_the_store_conforms() {
    let Some(url) = url() else { return };
    let pool = application_pool(&url);
    let schemas = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (p, s) = (pool.clone(), schemas.clone());
    conformance::run_all(move || {
        let (pool, schemas) = (p.clone(), s.clone());
        async move {
            let schema = fresh_schema();
            schemas.lock().unwrap().push(schema.clone());
            let store = PostgresStore::new(pool)
                .with_schema(&schema)
                .unwrap()
                .with_table_name("auth_second_factor")
                .unwrap();
            store.migrate().await.unwrap();
            store
        }
    })
    .await;
    let used = schemas.lock().unwrap().clone();
    for schema in used {
        drop_schema(&url, &schema).await;
    }
}

#[tokio::test]
async fn the_schema_can_be_owned_by_the_applications_migrations() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let store = PostgresStore::new(application_pool(&url))
        .with_schema(&schema)
        .unwrap();
    // Nothing there yet: checking refuses, naming the problem.
    let err = store.check_schema().await.unwrap_err().to_string();
    assert!(err.contains("migration"), "{err}");
    // The application's migration tool applies the shipped file in that schema.
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path TO {schema}; {}",
            twofactor::store::POSTGRES_MIGRATION_0001
        ))
        .await
        .unwrap();
    store.check_schema().await.unwrap();
    // migrate() on a migrated schema changes nothing, and the store works.
    store.migrate().await.unwrap();
    store.check_schema().await.unwrap();
    store
        .insert("u", &conformance::cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    // A newer schema (a later version of this crate ran) is refused.
    client
        .batch_execute(&format!(
            "INSERT INTO {schema}.twofactor_schema (version) VALUES (99)"
        ))
        .await
        .unwrap();
    let err = store.check_schema().await.unwrap_err().to_string();
    assert!(err.contains("newer"), "{err}");
    assert!(store.migrate().await.is_err());
    // Connecting without migration checks instead, and refuses too.
    let options = twofactor::store::PostgresOptions::default()
        .with_schema(&schema)
        .without_migration();
    assert!(
        PostgresStore::connect_with(&url, options, tokio_postgres::NoTls)
            .await
            .is_err()
    );
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn pool_options_are_applied() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let options = twofactor::store::PostgresOptions::default()
        .with_schema(&schema)
        .with_max_size(3);
    let store = PostgresStore::connect_with(&url, options, tokio_postgres::NoTls)
        .await
        .unwrap();
    assert_eq!(store.pool().status().max_size, 3);
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn invalid_table_names_are_refused() {
    let Some(url) = url() else { return };
    let store = || PostgresStore::new(application_pool(&url));
    for bad in ["", "1abc", "users; DROP TABLE x", "Users", &"a".repeat(57)] {
        assert!(store().with_table_name(bad).is_err(), "{bad}");
    }
    assert!(store().with_table_name("twofactor_accounts").is_ok());
}

/// TLS through the caller's connector: tokio-postgres-rustls over a rustls configuration.
mod tls {
    use std::sync::Arc;

    use rustls::DigitallySignedStruct;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
    use twofactor::PostgresStore;
    use twofactor::store::PostgresOptions;

    use super::{drop_schema, fresh_schema, url};

    /// A self-signed CA that signed nothing this machine's PostgreSQL presents.
    const UNRELATED_CA_BASE64: &str = "MIIBzzCCAXWgAwIBAgIUSCkZKVpbHreXCdgIyqZQMPDgmNEwCgYIKoZIzj0EAwIwNDEyMDAGA1UEAwwpdHdvZmFjdG9yIHRlc3QgQ0EgdW5yZWxhdGVkIHRvIGFueSBzZXJ2ZXIwIBcNMjYxMTI5MTU0MzMzWhgPMjEyNjExMDUxNTQzMzNaMDQxMjAwBgNVBAMMKXR3b2ZhY3RvciB0ZXN0IENBIHVucmVsYXRlZCB0byBhbnkgc2VydmVyMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9ZlD9oZlpXtbujV67GcCVnm4G3UhYmAqC1zsByZP1aQIEtWKAz2ammq6i0zRJcn77fHYz2YkbfOyqZKJWp1u66NjMGEwHQYDVR0OBBYEFCHBPgYsoTFsGnYOHJue8RlwftUrMB8GA1UdIwQYMBaAFCHBPgYsoTFsGnYOHJue8RlwftUrMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgIEMAoGCCqGSM49BAMCA0gAMEUCIQCuw6CbF4Mzk11KiKfXnBRbbWZzEDv67R9Aabr7z6fafgIgVtk9Y3lPkBQ3m5IpWUkqLA51i+0Y1ropeldgXpv6K1w=";

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// Accepts whatever certificate the server presents (the machine's PostgreSQL serves a
    /// self-signed certificate without a subject alternative name, which no WebPKI verifier
    /// accepts) but still checks the handshake signatures: enough to show the connection is
    /// encrypted. An application verifies the server with its CA, as `a_wrong_ca_fails` does.
    #[derive(Debug)]
    struct AnyServerCertificate(Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyServerCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    fn encrypting_connector() -> tokio_postgres_rustls::MakeRustlsConnect {
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider())))
            .with_no_client_auth();
        tokio_postgres_rustls::MakeRustlsConnect::new(config)
    }

    fn with_sslmode(url: &str, mode: &str) -> String {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}sslmode={mode}")
    }

    /// Whether the store's own connections are encrypted, as the server sees them.
    async fn encrypted(store: &PostgresStore) -> bool {
        let client = store.pool().get().await.unwrap();
        client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    }

    #[tokio::test]
    async fn sslmode_require_really_uses_tls() {
        let Some(url) = url() else { return };
        let schema = fresh_schema();
        let options = PostgresOptions::default().with_schema(&schema);
        let store = PostgresStore::connect_with(
            &with_sslmode(&url, "require"),
            options.clone(),
            encrypting_connector(),
        )
        .await
        .unwrap();
        assert!(encrypted(&store).await, "sslmode=require over TLS");
        // The URL decides: the same connector with sslmode=disable talks in plain text.
        let plain = PostgresStore::connect_with(
            &with_sslmode(&url, "disable"),
            options,
            encrypting_connector(),
        )
        .await
        .unwrap();
        assert!(!encrypted(&plain).await);
        drop_schema(&url, &schema).await;
    }

    #[tokio::test]
    async fn sslmode_require_without_a_tls_connector_fails_rather_than_fall_back() {
        let Some(url) = url() else { return };
        let err = PostgresStore::connect(&with_sslmode(&url, "require"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("TLS"), "{err}");
    }

    #[tokio::test]
    async fn a_wrong_ca_fails() {
        let Some(url) = url() else { return };
        let der = data_encoding::BASE64
            .decode(UNRELATED_CA_BASE64.as_bytes())
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(der)).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let err = PostgresStore::connect_with(
            &with_sslmode(&url, "require"),
            PostgresOptions::default().with_schema(&fresh_schema()),
            tokio_postgres_rustls::MakeRustlsConnect::new(config),
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("certificate"), "{text}");
    }
}
