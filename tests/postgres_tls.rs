//! TLS to PostgreSQL, optional: a server on 127.0.0.1 with a certificate from a throwaway CA
//! (tests/common/postgres.rs, `openssl`). `sslmode=require` connects over TLS when the CA is
//! trusted (SSL_CERT_FILE) and refuses an untrusted certificate; without it, in the clear.

mod common;

use common::postgres::{Cluster, USER};
use common::{Workspace, gleaner, stderr};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn sslmode_require_connects_over_verified_tls_and_refuses_an_untrusted_certificate() {
    let port = free_port();
    let (cluster, ca) = Cluster::start_tls(port);
    let name = cluster.new_database();
    let ws = Workspace::new();
    ws.write_config("", &[]);
    let sources = |url: &str, ca: Option<&std::path::Path>| {
        let mut command = gleaner();
        command.args([
            "--config",
            ws.config().to_str().unwrap(),
            "--database",
            url,
            "sources",
        ]);
        command
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR");
        if let Some(ca) = ca {
            command.env("SSL_CERT_FILE", ca);
        }
        command.output().unwrap()
    };
    // No sources in the new database: `sources` says so, which means it connected and read.
    let connected = |output: &std::process::Output| stderr(output).contains("no sources in");

    let tls_url = format!("postgresql://{USER}@127.0.0.1:{port}/{name}?sslmode=require");
    let trusted = sources(&tls_url, Some(&ca));
    assert!(connected(&trusted), "{}", stderr(&trusted));
    let log = cluster.server_log();
    assert!(
        log.contains(&format!("database={name} SSL enabled")),
        "the server saw TLS:\n{log}"
    );

    let untrusted = sources(&tls_url, None);
    assert!(!untrusted.status.success());
    let message = stderr(&untrusted);
    assert!(!connected(&untrusted), "{message}");
    assert!(message.contains("certificate"), "{message}");

    // Without sslmode=require: in the clear (the server's log shows no TLS for it).
    let before = cluster.server_log().matches("SSL enabled").count();
    let plain = sources(
        &format!("postgresql://{USER}@127.0.0.1:{port}/{name}"),
        None,
    );
    assert!(connected(&plain), "{}", stderr(&plain));
    assert_eq!(cluster.server_log().matches("SSL enabled").count(), before);
}
