//! A TCP proxy on `127.0.0.1:0` that loses answers: it passes each request on to
//! the service behind it, waits until the service has answered, then resets the
//! caller's connection without relaying a byte of the answer. That is what a
//! caller sees when a mesh's per-try timeout fires or a connection breaks after
//! the work was done, and what a retry must cope with.

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
