//! TLS with a private CA: trusted through --ca-file, refused without it, accepted with a
//! loud warning under --insecure-skip-verify. Prometheus itself serves TLS here (its web
//! config), with a CA and certificate openssl makes for the test.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed (scripts/install-test-deps.sh)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tls_with_a_private_ca() {
    let pki = tempfile::tempdir().unwrap();
    let d = pki.path();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=slo-check test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(d, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(d, &csr);
    std::fs::write(
        d.join("ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
    let web = d.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            d.join("server.crt").display(),
            d.join("server.key").display()
        ),
    )
    .unwrap();

    let at = at();
    let at_s = at.to_string();
    let prom = prometheus_tls(at, &web);
    assert!(prom.url.starts_with("https://"));
    let slos = tempfile::tempdir().unwrap();
    strict(slos.path());
    let s = slos.path().display().to_string();
    let ca_file = d.join("ca.crt").display().to_string();

    let out = slo_check_at(
        &s,
        &prom.url,
        &at_s,
        &["--ca-file", &ca_file, "--format", "json"],
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    near(
        &slo(&json(&out), "orders-availability-strict")["burn_rate"],
        2.5,
        "over TLS",
    );

    let out = slo_check_at(
        &s,
        &prom.url,
        &at_s,
        &["--retries", "0", "--format", "json"],
    );
    assert_eq!(code(&out), 3, "an unknown CA is refused: {}", text(&out));
    assert!(
        text(&out).to_lowercase().contains("certificate"),
        "{}",
        text(&out)
    );

    let out = slo_check_at(&s, &prom.url, &at_s, &["--insecure-skip-verify"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING: --insecure-skip-verify"));

    let out = slo_check(&[
        "--slos",
        &s,
        "--prometheus",
        &prom.url,
        "--ca-file",
        &d.join("ext").display().to_string(),
    ]);
    assert_eq!(
        code(&out),
        2,
        "a CA file without a certificate is a usage error: {}",
        text(&out)
    );
}
