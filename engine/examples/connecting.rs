//! A worker reaching an `https://` server signed by a private CA, with Orkes-style token auth:
//! an embedded `baton-mock` serves TLS with a certificate made here by a throwaway CA, and the
//! host trusts that CA through `tls_ca_file` (`CONDUCTOR_TLS_CA_FILE` in deployments).
//!
//! ```text
//! cargo run -p baton --example connecting
//! ```

use std::time::Duration;

use baton::config::ConfigSources;
use baton::model::Task;
use baton::{FnWorker, WorkerHost};
use baton_mock::{Credentials, EnqueueRequest, MockServer, TlsIdentity};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A private CA and a server certificate for 127.0.0.1, as a company PKI would issue.
    let mut ca_params = CertificateParams::new(Vec::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let server_key = KeyPair::generate()?;
    let server_cert =
        CertificateParams::new(vec!["127.0.0.1".to_owned()])?.signed_by(&server_key, &ca)?;
    let dir = std::env::temp_dir().join(format!("baton-connecting-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem())?;

    let identity = TlsIdentity::from_pem(
        server_cert.pem().as_bytes(),
        server_key.serialize_pem().as_bytes(),
    )?;
    let mock = MockServer::builder()
        .tls(identity)
        .auth("app-key:app-secret".parse::<Credentials>()?)
        .start()
        .await?;
    mock.enqueue(EnqueueRequest::new("secure_echo", 50));

    let worker = FnWorker::new("secure_echo", |task: Task| async move {
        serde_json::json!({ "echo": task.task_id })
    })
    .concurrency(8);
    let host = WorkerHost::builder()
        .config_sources(ConfigSources::new(Vec::new(), None)?)
        .server_url(mock.base_url()) // https://127.0.0.1:PORT/api
        .tls_ca_file(&ca_file)
        .auth("app-key", "app-secret")
        .worker(worker)
        .build()?
        .start()?;
    let started = std::time::Instant::now();
    while mock.ledger().completed < 50 {
        if started.elapsed() > Duration::from_secs(30) {
            return Err("tasks did not complete within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let report = host.shutdown_async().await;
    println!(
        "completed 50 tasks over {} with a private CA and token auth; drained cleanly: {}",
        mock.base_url(),
        report.clean
    );
    mock.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
