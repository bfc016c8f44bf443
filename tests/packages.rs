//! Packages in the JetStream Object Store view (issue: seed 000). Real nats-servers.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

const BASE: &str = "/nacre/v1/packages";

fn bytes_of(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

async fn put(n: &Nacre, key: &str, data: Vec<u8>, query: &[(&str, &str)]) -> (u16, Value) {
    let r = http()
        .put(n.url(&format!("{BASE}/{key}")))
        .query(query)
        .body(data)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn download(n: &Nacre, key: &str) -> (u16, Vec<u8>) {
    let r = http()
        .get(n.url(&format!("{BASE}/{key}")))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

async fn listed(n: &Nacre) -> Vec<String> {
    let v: Value = http()
        .get(n.url(BASE))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap().to_owned())
        .collect()
}

/// Messages in the packages Object Store stream: proof that nothing was left behind.
async fn object_messages(nats_url: &str) -> u64 {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url).await.unwrap());
    js.get_stream("OBJ_nacre-packages")
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap()
        .state
        .messages
}

/// What the packages Object Store itself holds under `key` (not Nacre's index): None when the
/// object is absent or deleted.
async fn stored(
    nats_url: &str,
    key: &str,
) -> Option<async_nats::jetstream::object_store::ObjectInfo> {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url).await.unwrap());
    let store = js.get_object_store("nacre-packages").await.unwrap();
    match store.info(key).await {
        Ok(info) if !info.deleted => Some(info),
        Ok(_) => None,
        Err(e) if e.kind() == async_nats::jetstream::object_store::InfoErrorKind::NotFound => None,
        Err(e) => panic!("Object Store info {key}: {e}"),
    }
}

/// Files in the node's upload spool directory.
fn spooled_files(n: &Nacre) -> usize {
    std::fs::read_dir(n.data_dir.join("uploads"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Chunk messages in the packages Object Store stream.
async fn chunk_messages(nats_url: &str) -> u64 {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url).await.unwrap());
    let stream = js.get_stream("OBJ_nacre-packages").await.unwrap();
    let mut info = stream
        .info_with_subjects("$O.nacre-packages.C.>")
        .await
        .unwrap();
    let mut total = 0;
    while let Some(subject) = info.next().await {
        total += subject.unwrap().1 as u64;
    }
    total
}

#[tokio::test]
async fn a_package_keeps_a_meaningful_type_and_gets_one_from_its_name_otherwise() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let upload = |key: &'static str, content_type: Option<&'static str>| {
        let n = &n;
        async move {
            let mut r = http()
                .put(n.url(&format!("{BASE}/{key}")))
                .body(bytes_of(100, 1));
            if let Some(t) = content_type {
                r = r.header("content-type", t);
            }
            assert_eq!(r.send().await.unwrap().status(), 201, "{key}");
            let got = http()
                .get(n.url(&format!("{BASE}/{key}")))
                .send()
                .await
                .unwrap();
            got.headers()["content-type"].to_str().unwrap().to_owned()
        }
    };
    // What `curl -X PUT --data-binary @file` sends says nothing about the file.
    assert_eq!(
        upload(
            "linux/o/1/c.tar.gz",
            Some("application/x-www-form-urlencoded")
        )
        .await,
        "application/gzip"
    );
    assert_eq!(
        upload("linux/o/1/tool.bin", None).await,
        "application/octet-stream"
    );
    assert_eq!(
        upload("linux/o/1/agent.zip", Some("application/vnd.acme.agent")).await,
        "application/vnd.acme.agent"
    );
}

#[tokio::test]
async fn a_package_is_served_byte_identical_replaced_only_on_request_and_a_deleted_one_leaves_no_object()
 {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let key = "linux/fusion-collectors/1.2.0/collector.tar.gz";
    let data = bytes_of(3 * 1024 * 1024 + 17, 1);
    let (status, body) = put(
        &n,
        key,
        data.clone(),
        &[("type", "collector"), ("description", "first")],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["size"].as_u64(), body["sha256"].as_str()),
        (Some(data.len() as u64), Some(sha(&data).as_str()))
    );
    assert_eq!(listed(&n).await, [key]);

    let r = http()
        .get(n.url(&format!("{BASE}/{key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-length"],
        data.len().to_string().as_str()
    );
    assert_eq!(r.headers()["etag"], format!("\"{}\"", sha(&data)).as_str());
    assert_eq!(r.bytes().await.unwrap().to_vec(), data, "byte-identical");

    let info: Value = http()
        .get(n.url(&format!("{BASE}/{key}/info")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (info["type"].as_str(), info["version"].as_str()),
        (Some("collector"), Some("1.2.0"))
    );

    // The same key again is refused unless overwrite is asked for.
    let newer = bytes_of(1000, 2);
    assert_eq!(put(&n, key, newer.clone(), &[]).await.0, 409);
    assert_eq!(
        download(&n, key).await.1,
        data,
        "the refused upload changed nothing"
    );
    assert_eq!(
        put(&n, key, newer.clone(), &[("overwrite", "true")])
            .await
            .0,
        201
    );
    assert_eq!(download(&n, key).await.1, newer);
    assert_eq!(
        chunk_messages(&nats.url()).await,
        1,
        "the overwritten version's chunks were purged"
    );

    let filtered: Value = http()
        .get(n.url(&format!("{BASE}?os=windows")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["count"], 0);
    let before = stored(&nats.url(), key).await;
    assert_eq!(
        before.map(|o| o.size),
        Some(newer.len()),
        "the Object Store holds the package before the delete"
    );
    let r = http()
        .delete(n.url(&format!("{BASE}/{key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(listed(&n).await.is_empty());
    assert_eq!(download(&n, key).await.0, 404);
    assert!(
        stored(&nats.url(), key).await.is_none(),
        "the Object Store no longer holds the package"
    );
    assert_eq!(
        chunk_messages(&nats.url()).await,
        0,
        "no chunks left after delete (the metadata is a standard tombstone)"
    );
}

#[tokio::test]
async fn a_multipart_or_cli_upload_is_served_and_rm_leaves_no_object() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let data = bytes_of(70_000, 3);
    let form = reqwest::multipart::Form::new()
        .text("os", "linux")
        .text("object", "agent")
        .text("version", "2.0.0")
        .text("type", "controller")
        .text("sha256", sha(&data))
        .part(
            "file",
            reqwest::multipart::Part::bytes(data.clone()).file_name("agent.bin"),
        );
    let r = http()
        .post(n.url(BASE))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(download(&n, "linux/agent/2.0.0/agent.bin").await.1, data);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("collector.zip");
    std::fs::write(&file, bytes_of(500_000, 4)).unwrap();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"))
            .arg("package")
            .args(args)
            .args(["--server", &n.base()])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let push = cli(&[
        "push",
        file.to_str().unwrap(),
        "--os",
        "windows",
        "--object",
        "fusion-collectors",
        "--version",
        "1.0.0",
    ]);
    assert!(push.0, "{push:?}");
    let ls = cli(&["ls", "--os", "windows"]);
    assert!(
        ls.1.contains("windows/fusion-collectors/1.0.0/collector.zip"),
        "{ls:?}"
    );
    let pulled = dir.path().join("pulled.zip");
    let pull = cli(&[
        "pull",
        "windows/fusion-collectors/1.0.0/collector.zip",
        "-o",
        pulled.to_str().unwrap(),
    ]);
    assert!(pull.0, "{pull:?}");
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&file).unwrap()
    );
    let again = cli(&[
        "push",
        file.to_str().unwrap(),
        "--os",
        "windows",
        "--object",
        "fusion-collectors",
        "--version",
        "1.0.0",
    ]);
    assert!(!again.0 && again.2.contains("already exists"), "{again:?}");
    let pushed = "windows/fusion-collectors/1.0.0/collector.zip";
    assert!(
        stored(&nats.url(), pushed).await.is_some(),
        "the Object Store holds the pushed package"
    );
    let rm = cli(&["rm", pushed]);
    assert!(rm.0, "{rm:?}");
    let ls = cli(&["ls"]);
    assert!(ls.0 && !ls.1.contains("windows"), "{ls:?}");
    assert!(
        stored(&nats.url(), pushed).await.is_none(),
        "`nacre package rm` removes the bytes from the Object Store"
    );
}

/// Seed 000's outage, replayed: the package must survive a restart of Nacre and its nats-server.
#[tokio::test]
async fn a_package_survives_a_full_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nacre::standalone_in(dir.path()).await;
    let key = "linux/fusion-collectors/1.2.0/controller.tar.gz";
    let data = bytes_of(2 * 1024 * 1024, 5);
    assert_eq!(
        put(&n, key, data.clone(), &[("type", "controller")])
            .await
            .0,
        201
    );
    n.stop();
    n.start().await;
    assert_eq!(listed(&n).await, [key]);
    assert_eq!(download(&n, key).await, (200, data));
}

#[tokio::test]
async fn range_requests_return_the_right_bytes() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let key = "linux/o/1/r.bin";
    let data = bytes_of(2 * 1024 * 1024 + 5, 6);
    put(&n, key, data.clone(), &[]).await;
    let range = |h: &str| {
        http()
            .get(n.url(&format!("{BASE}/{key}")))
            .header("range", h.to_owned())
            .send()
    };
    for (h, from, to) in [
        ("bytes=0-9", 0, 9),
        ("bytes=1048570-1048590", 1048570, 1048590),
        ("bytes=-10", data.len() - 10, data.len() - 1),
        ("bytes=2097000-", 2097000, data.len() - 1),
    ] {
        let r = range(h).await.unwrap();
        assert_eq!(r.status(), 206, "{h}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes {from}-{to}/{}", data.len()).as_str()
        );
        assert_eq!(r.bytes().await.unwrap().to_vec(), data[from..=to], "{h}");
    }
    let r = range("bytes=99999999-").await.unwrap();
    assert_eq!(r.status(), 416);
}

#[tokio::test]
async fn a_checksum_mismatch_is_rejected_and_leaves_nothing() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let data = bytes_of(100_000, 7);
    let r = http()
        .put(n.url(&format!("{BASE}/linux/o/1/c.bin")))
        .header("x-checksum-sha256", sha(b"something else"))
        .body(data)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("checksum mismatch"));
    assert!(listed(&n).await.is_empty());
    assert_eq!(object_messages(&nats.url()).await, 0);
}

/// The client disconnects halfway: no index entry, no object, no chunks, no spool file.
#[tokio::test]
async fn an_interrupted_upload_leaves_nothing_behind() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    {
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", n.port)).unwrap();
        let head = format!(
            "PUT {BASE}/linux/o/1/partial.bin HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            10 * 1024 * 1024
        );
        tcp.write_all(head.as_bytes()).unwrap();
        tcp.write_all(&bytes_of(1024 * 1024, 8)).unwrap();
        tcp.flush().unwrap();
        // The upload is being spooled: the check below looks where spool files really are.
        eventually("the partial upload to be spooled", || async {
            spooled_files(&n) == 1
        })
        .await;
    } // dropped: the connection closes mid-body
    eventually("the partial upload's spool file to be removed", || async {
        spooled_files(&n) == 0
    })
    .await;
    assert!(listed(&n).await.is_empty());
    assert_eq!(object_messages(&nats.url()).await, 0);
}

#[tokio::test]
async fn bad_package_input_is_refused() {
    let nats = NatsServer::start();
    let n = Nacre::external_with(&nats, &[("NACRE_PACKAGES_MAX_BYTES", "1024")]).await;
    assert_eq!(
        put(&n, "linux/o/1/empty.bin", Vec::new(), &[]).await.0,
        400,
        "empty file"
    );
    assert_eq!(
        put(&n, "linux/o/1/big.bin", bytes_of(2048, 1), &[]).await.0,
        413,
        "over packages.max-bytes"
    );
    assert_eq!(
        put(&n, "linux/o/1/x.bin", bytes_of(10, 1), &[("type", "agent")])
            .await
            .0,
        400,
        "unknown type"
    );
    assert_eq!(
        put(&n, "linux/o/..%2E/x.bin", bytes_of(10, 1), &[]).await.0,
        400,
        "'..' in a part"
    );
    assert_eq!(
        put(&n, "linux/o/1/a%2Fb", bytes_of(10, 1), &[]).await.0,
        400,
        "a path separator in a name"
    );
    let form = reqwest::multipart::Form::new()
        .text("object", "o")
        .text("version", "1")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![1, 2, 3]).file_name("f"),
        );
    let r = http()
        .post(n.url(BASE))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "missing os");
    assert!(listed(&n).await.is_empty());
    assert_eq!(object_messages(&nats.url()).await, 0);
}

/// Subscribers learn of new packages from the stream; 200 MiB streams through with flat memory.
#[tokio::test]
async fn a_large_upload_streams_with_bounded_memory_and_is_announced() {
    let nats = NatsServer::start();
    let n = Nacre::external(&nats).await;
    let client = nats.client().await;
    let mut events = client.subscribe("nacre.evt.pkg.>").await.unwrap();
    client.flush().await.unwrap();

    const SIZE: u64 = 200 * 1024 * 1024;
    let chunks = futures::stream::iter(
        (0..SIZE / (1024 * 1024)).map(|i| Ok::<_, std::io::Error>(bytes_of(1024 * 1024, i as u8))),
    );
    let mut expected = Sha256::new();
    for i in 0..SIZE / (1024 * 1024) {
        expected.update(bytes_of(1024 * 1024, i as u8));
    }
    let expected = hex::encode(expected.finalize());
    let r = http()
        .put(n.url(&format!("{BASE}/linux/big/1.0/big.bin")))
        .header("content-length", SIZE)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let event: Value = serde_json::from_slice(
        &tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .unwrap()
            .unwrap()
            .payload,
    )
    .unwrap();
    assert_eq!(event["type"], "nacre.package.uploaded.v1");
    assert_eq!(
        (
            event["data"]["size"].as_u64(),
            event["data"]["sha256"].as_str(),
            event["data"]["version"].as_str()
        ),
        (Some(SIZE), Some(expected.as_str()), Some("1.0"))
    );

    let r = http()
        .get(n.url(&format!("{BASE}/linux/big/1.0/big.bin")))
        .send()
        .await
        .unwrap();
    let mut got = Sha256::new();
    let mut received = 0u64;
    let mut body = r.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        received += chunk.len() as u64;
        got.update(&chunk);
    }
    assert_eq!(
        (received, hex::encode(got.finalize())),
        (SIZE, expected),
        "byte-identical download"
    );

    let status = std::fs::read_to_string(format!("/proc/{}/status", n.pid())).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        peak_kib < 150 * 1024,
        "peak RSS {peak_kib} KiB for a 200 MiB package: it must stream, not buffer"
    );
}
