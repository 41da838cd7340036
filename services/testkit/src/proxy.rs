//! TCP proxies on `127.0.0.1:0` in front of a service under test.
//!
//! [`LosingProxy`] loses answers: it passes each request on to the service
//! behind it, waits until the service has answered, then resets the caller's
//! connection without relaying a byte of the answer. That is what a caller sees
//! when a mesh's per-try timeout fires or a connection breaks after the work
//! was done, and what a retry must cope with. [`Relay`] passes everything on,
//! late, and counts the requests that went through.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long the proxy waits for the service's answer before giving up on it.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// A running proxy; it stops when the test's runtime ends.
#[derive(Debug, Clone)]
pub struct LosingProxy {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    answered: Arc<AtomicUsize>,
}

impl LosingProxy {
    /// A proxy in front of `upstream` (the address the service listens on).
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answered = Arc::new(AtomicUsize::new(0));
        let counter = answered.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    if lose_answer(client, upstream).await {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Self { url, answered }
    }

    /// How many answers the service gave that the proxy threw away.
    pub fn answers_lost(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

/// Relays the caller's bytes to `upstream` until the first byte of the answer
/// arrives, then resets the caller's connection. True when an answer had come.
async fn lose_answer(mut client: TcpStream, upstream: SocketAddr) -> bool {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return false;
    };
    let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
    let mut buf = [0u8; 8192];
    let mut first = [0u8; 1];
    let mut client_open = true;
    let answered = loop {
        tokio::select! {
            read = client.read(&mut buf), if client_open => match read {
                Ok(0) | Err(_) => client_open = false,
                Ok(n) => {
                    if server.write_all(&buf[..n]).await.is_err() {
                        break false;
                    }
                }
            },
            read = server.read(&mut first) => break matches!(read, Ok(1)),
            () = tokio::time::sleep_until(deadline) => break false,
        }
    };
    // An abortive close: the caller gets a reset, as from a broken connection.
    let _ = client.set_zero_linger();
    drop(client);
    drop(server);
    answered
}

/// A TCP relay on `127.0.0.1:0` that can hold every chunk for a while before
/// passing it on, in either direction: requests (a slow service, so a request
/// is still running when the next one comes) or answers (a slow network, so
/// the caller has not seen the answer to work that is done). It notes the
/// first line of each chunk the caller sends, so a test can count the requests
/// that really went out.
#[derive(Debug, Clone)]
pub struct Relay {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Relay {
    /// A relay in front of `upstream` that delays each chunk of a request by
    /// `request_delay` and each chunk of an answer by `answer_delay`.
    pub async fn start(
        upstream: SocketAddr,
        request_delay: Duration,
        answer_delay: Duration,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = lines.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let delays = (request_delay, answer_delay);
                tokio::spawn(relay(client, upstream, delays, seen.clone()));
            }
        });
        Self { url, lines }
    }

    /// How many chunks began with `prefix`, e.g. `POST /checkout `: requests
    /// whose head arrived in one piece, as a client's requests do.
    pub fn requests_starting(&self, prefix: &str) -> usize {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter(|l| l.starts_with(prefix)).count()
    }
}

async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    (request_delay, answer_delay): (Duration, Duration),
    lines: Arc<std::sync::Mutex<Vec<String>>>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async move {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let first_line = buf[..n].split(|&b| b == b'\n').next().unwrap_or_default();
            lines
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(first_line).into_owned());
            tokio::time::sleep(request_delay).await;
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let down = async move {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            tokio::time::sleep(answer_delay).await;
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}
