//! What the end-to-end test programs share: where the repository and the service binaries
//! are.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use kubestore_core::catalog;
use kubestore_core::runtime::env;
use kubestore_stack::http;
use kubestore_stack::plan;
use kubestore_stack::stack::Stack;

/// The SLO gate's binary (and package) name.
pub const SLO_CHECK: &str = "slo-check";

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The service binaries, next to this test's folder (`target/<profile>/`), built if
/// missing.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_owned();
    if catalog::names().iter().any(|s| !dir.join(s).exists()) || !dir.join(SLO_CHECK).exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build.arg("build").current_dir(repo());
        for s in catalog::names() {
            build.args(["-p", &format!("kubestore-{s}")]);
        }
        build.args(["-p", SLO_CHECK]);
        assert!(
            build.status().expect("cargo runs").success(),
            "building the services failed"
        );
    }
    dir
}

/// One HTTP/1.1 message (head and Content-Length body) from `stream`, or None at EOF.
pub fn read_message(stream: &mut std::net::TcpStream) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..i]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while raw.len() < i + 4 + length {
                let n = stream.read(&mut buf).ok()?;
                if n == 0 {
                    return None;
                }
                raw.extend_from_slice(&buf[..n]);
            }
            return Some(raw);
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// A relay in front of a cart replica that lets every checkout reach the replica and then
/// cuts the caller's connection instead of passing the answer on: the order exists, the
/// cart is emptied, and the caller never heard. Returns the answers it swallowed.
pub fn checkout_cutter(
    listen: TcpListener,
    upstream: u16,
    stop: Arc<AtomicBool>,
) -> Arc<Mutex<Vec<String>>> {
    let swallowed = Arc::new(Mutex::new(Vec::new()));
    let record = swallowed.clone();
    thread::spawn(move || {
        for downstream in listen.incoming().flatten() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let record = record.clone();
            thread::spawn(move || {
                let mut downstream = downstream;
                let Ok(mut up) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                while let Some(request) = read_message(&mut downstream) {
                    if up.write_all(&request).is_err() {
                        return;
                    }
                    let Some(answer) = read_message(&mut up) else {
                        return;
                    };
                    let checkout = String::from_utf8_lossy(&request[..request.len().min(200)])
                        .contains("/checkout");
                    if checkout {
                        let answer = String::from_utf8_lossy(&answer).into_owned();
                        record.lock().expect("lock").push(answer);
                        // Close without a word: the caller gets no answer at all.
                        let _ = downstream.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                    if downstream.write_all(&answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    swallowed
}

/// `POST path` with an Idempotency-Key and a JSON body: (status, body).
pub fn request_with_key(port: u16, path: &str, key: &str, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nIdempotency-Key: {key}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("sent");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Puts one of `product` into cart `id` through `via`.
pub fn fill_cart(via: u16, id: &str, product: u64) {
    let put = http::request(
        via,
        "PUT",
        &format!("/v1/carts/{id}/items/{product}"),
        Some(("application/json", r#"{"quantity":1}"#)),
    )
    .expect("item added");
    assert_eq!(put.status, 200, "{}", put.body);
}

/// What a run of keyed checkouts met: the order the lost answer held, the order the
/// customer was answered with, the cart that was cut, and how many checkouts ran.
pub struct CutCheckout {
    pub lost: Value,
    pub answered: Value,
    pub cart: String,
    pub checkouts: u64,
}

/// Checks out fresh carts (named `<prefix>-<pid>-<n>`) through `via`, each with its own
/// Idempotency-Key, until one went through the cutter: the balancer picks the replica, so
/// it may take a few. Every checkout must succeed for the customer.
pub fn keyed_checkout_until_cut(
    via: u16,
    product: u64,
    user_id: u64,
    swallowed: &Mutex<Vec<String>>,
    prefix: &str,
    attempts: u32,
) -> CutCheckout {
    let body = format!(r#"{{"user_id":{user_id}}}"#);
    for attempt in 0..attempts {
        let id = format!("{prefix}-{}-{attempt}", std::process::id());
        fill_cart(via, &id, product);
        let (status, answer) = request_with_key(
            via,
            &format!("/v1/carts/{id}/checkout"),
            &format!("key-{id}"),
            &body,
        );
        assert_eq!(
            status, 201,
            "the customer was told the checkout failed: {answer}"
        );
        if let Some(lost) = swallowed.lock().expect("lock").first().cloned() {
            let answered: Value = serde_json::from_str(&answer).unwrap_or_default();
            return CutCheckout {
                lost: json_body(&lost)["id"].clone(),
                answered: answered["id"].clone(),
                cart: id,
                checkouts: u64::from(attempt) + 1,
            };
        }
    }
    panic!("none of {attempts} keyed checkouts went through the cutter");
}

pub fn json_body(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or(answer, |(_, b)| b);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

pub fn mysql_count(database: &str, sql: &str) -> u64 {
    let out = std::process::Command::new("mariadb")
        .args(["-uroot", "-h127.0.0.1", "-N", "-B", database, "-e", sql])
        .output()
        .expect("the mariadb client runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count")
}

pub fn first_product(stack: &Stack) -> u64 {
    let products = catalog::service("products").expect("products");
    let list =
        http::get(stack.plan.ports.app(products, 0), "/v1/products?limit=1").expect("products");
    let v: Value = serde_json::from_str(&list.body).expect("JSON");
    v["items"][0]["id"]
        .as_u64()
        .or_else(|| v[0]["id"].as_u64())
        .unwrap_or_else(|| panic!("no product: {}", list.body))
}

/// One scenario of an end-to-end program, on its world (the stack and what it needs).
pub type Scenario<W> = fn(&mut W);

/// Runs the `scenarios` named on the command line (all without a name) on one stack that
/// `setup` brings up, each caught on its own so one failure does not hide the others, and
/// stops every process of the stack at the end, also after a failure.
pub fn run_scenarios<W>(
    program: &str,
    scenarios: &[(&str, Scenario<W>)],
    setup: impl FnOnce() -> anyhow::Result<W>,
    stack: impl Fn(&mut W) -> &mut Stack,
) -> ExitCode {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let chosen: Vec<_> = scenarios
        .iter()
        .filter(|(name, _)| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())))
        .collect();
    if chosen.is_empty() {
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    let mut world = match setup() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{program}: the stack did not come up: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "{program}: stack up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut failed = Vec::new();
    for (name, scenario) in chosen {
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| scenario(&mut world)));
        let secs = t.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => eprintln!("test {name} ... ok ({secs:.1} s)"),
            Err(_) => {
                eprintln!("test {name} ... FAILED ({secs:.1} s)");
                failed.push(*name);
            }
        }
    }
    let stopped = stack(&mut world).down();
    eprintln!(
        "{program}: stopped {} processes; {} scenario(s) failed; total {:.1} s",
        stopped.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

/// Runs `body` with cart-0 behind a [`checkout_cutter`] (cart-0 restarted on another port,
/// the relay on its own), once every caller sends to it again; `body` gets the swallowed
/// answers and a new user's id. Afterwards the relay goes and cart-0 serves again, also
/// when `body` panicked (the panic then goes on).
pub fn with_checkout_answers_lost(
    stack: &mut Stack,
    body: impl FnOnce(&Stack, &Mutex<Vec<String>>, u64),
) {
    let cart = catalog::service("cart").expect("cart");
    let users = catalog::service("users").expect("users");
    let cart_port = stack.plan.ports.app(cart, 0);
    let victim = stack
        .process(&plan::app_name("cart", 0))
        .expect("cart-0")
        .clone();
    victim.stop(Duration::from_secs(15));
    let behind = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let behind_port = behind.local_addr().expect("addr").port();
    drop(behind);
    let mut spec = stack.plan.app_spec("cart", 0);
    spec.name = "cart-0-behind-cutter".into();
    spec.env.retain(|(k, _)| k != env::LISTEN_ADDR);
    spec.env
        .push((env::LISTEN_ADDR.into(), format!("127.0.0.1:{behind_port}")));
    spec.probe.port = behind_port;
    let hidden = kubestore_stack::procs::spawn(&spec).expect("cart behind the cutter");
    let stop = Arc::new(AtomicBool::new(false));
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        hidden.wait_ready(Duration::from_secs(30)).expect("ready");
        let listen = TcpListener::bind(("127.0.0.1", cart_port)).expect("cart-0's port");
        let swallowed = checkout_cutter(listen, behind_port, stop.clone());
        wait_healthy_in_callers(stack, "cart", 0);
        let email = format!("cut-{}-{}@example.com", std::process::id(), cart_port);
        let user = http::request(
            stack.plan.ports.app(users, 0),
            "POST",
            "/v1/users",
            Some((
                "application/json",
                &format!(r#"{{"email":"{email}","name":"Cut"}}"#),
            )),
        )
        .expect("user");
        let user_id = serde_json::from_str::<Value>(&user.body).unwrap_or_default()["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("no user: {}", user.body));
        body(stack, &swallowed, user_id);
    }));
    stop.store(true, Ordering::Relaxed);
    let _ = std::net::TcpStream::connect(("127.0.0.1", cart_port));
    hidden.stop(Duration::from_secs(15));
    thread::sleep(Duration::from_millis(200));
    stack
        .revive(&plan::app_name("cart", 0))
        .expect("cart-0 back");
    wait_healthy_in_callers(stack, "cart", 0);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Waits (30 s at most) until every caller of `service` sends to `replica`.
pub fn wait_healthy_in_callers(stack: &Stack, service: &str, replica: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stack.healthy_in_callers(service, replica) {
        assert!(
            Instant::now() < deadline,
            "the callers never sent to replica {replica} of {service}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}
