//! Connection hygiene: a client that sends nothing, or stops half-way through a body, is cut off
//! after the configured timeouts; a request body a handler ignores never spoils the next request
//! on a keep-alive connection; a client that leaves mid-request is not counted for ever.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

const TIMEOUTS: [(&str, &str); 2] = [
    ("NACRE_SERVER_HEADER_READ_TIMEOUT", "1s"),
    ("NACRE_SERVER_BODY_READ_TIMEOUT", "1s"),
];

/// Reads until the server closes the connection (or `limit` passes): what it sent.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut all = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buffer[..n]),
            Err(e) => panic!("the server kept the connection open for {limit:?}: {e}"),
        }
    }
    (
        String::from_utf8_lossy(&all).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_stalled_clients_are_cut_off_on_both_ports() {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &TIMEOUTS).await;
    for port in [n.port, n.consul_port] {
        // Connected, and silent.
        let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_, after) = read_until_closed(&mut idle, Duration::from_secs(10));
        assert!(after < Duration::from_secs(5), "port {port}: {after:?}");
        // Half a header.
        let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
        slow.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let (_, after) = read_until_closed(&mut slow, Duration::from_secs(10));
        assert!(after < Duration::from_secs(5), "port {port}: {after:?}");
        // A body that stops short of its length.
        let mut short = TcpStream::connect(("127.0.0.1", port)).unwrap();
        short
            .write_all(b"PUT /v1/kv/short HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
            .unwrap();
        let (answer, after) = read_until_closed(&mut short, Duration::from_secs(10));
        assert!(
            after < Duration::from_secs(5),
            "port {port}: {after:?} {answer}"
        );
        assert!(!answer.starts_with("HTTP/1.1 200"), "port {port}: {answer}");
    }
    // Nothing was written by any of them.
    let r = http().get(n.consul("/v1/kv/short")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_a_handler_ignores_leave_the_connection_usable() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let mut stream = TcpStream::connect(("127.0.0.1", n.consul_port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for i in 0..20 {
        // Routes that read no body, sent one anyway.
        let path = if i % 2 == 0 {
            "/v1/status/leader"
        } else {
            "/v1/agent/self"
        };
        // The body follows its head in a second packet, as clients that write them separately
        // send it: a server that answers before reading it must still consume it.
        let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        stream.write_all(b"hello world").unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = stream
                .read(&mut byte)
                .expect("an answer on the same connection");
            assert_eq!(n, 1, "request {i}: the server closed the connection");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "request {i}: {head}");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .expect("a content length");
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_request_is_not_counted_for_ever() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let in_flight = || {
        let request = http().get(n.url("/metrics"));
        async move {
            let text = request.send().await.unwrap().text().await.unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix("nacre_active_connections "))
                .map(|v| v.trim().parse::<i64>().unwrap())
                .unwrap()
        }
    };
    // Long polls on a config that does not change, abandoned by their clients.
    publish(&n, "held", "G", "v").await;
    let md5 = format!("{:x}", md5::Md5::digest(b"v"));
    for _ in 0..5 {
        let mut stream = TcpStream::connect(("127.0.0.1", n.port)).unwrap();
        let body = format!("Listening-Configs=held%02G%02{md5}%01");
        let request = format!(
            "POST /nacos/v1/cs/configs/listener HTTP/1.1\r\nHost: x\r\nLong-Pulling-Timeout: 30000\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        // Let the request reach its wait, then leave.
        eventually("the long poll is counted", || {
            let count = in_flight();
            async move { count.await >= 2 }
        })
        .await;
        drop(stream);
    }
    eventually("abandoned requests are no longer counted", || {
        let count = in_flight();
        // The /metrics request itself is in flight while it answers.
        async move { count.await == 1 }
    })
    .await;
}

use md5::Digest;
