//! The shipped deployments keep every data directory on a persistent volume (seed 000, forever).

use std::path::PathBuf;

use nacre::deploy_check::{IMAGE_DATA_DIR, check_compose, store_dir};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies compose/ and nats/ into a temporary tree, editing one compose file.
fn copy_with(file: &str, edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["compose", "nats"] {
        std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, tmp.path().join(dir).join(path.file_name().unwrap())).unwrap();
        }
    }
    let target = tmp.path().join("compose").join(file);
    let text = std::fs::read_to_string(&target).unwrap();
    std::fs::write(&target, edit(text)).unwrap();
    (tmp, target)
}

#[test]
fn every_shipped_compose_file_keeps_its_data_on_named_volumes() {
    for file in ["standalone.yml", "cluster.yml"] {
        let report = check_compose(&repo().join("compose").join(file)).unwrap();
        assert!(
            report.problems.is_empty() && report.warnings.is_empty(),
            "{file}: {report:#?}"
        );
    }
}

#[test]
fn seed_000s_wrong_mount_is_caught() {
    let (_tmp, file) = copy_with("cluster.yml", |t| {
        t.replace("nats-dc2-data:/var/lib/nats", "nats-dc2-data:/nats")
    });
    let problems = check_compose(&file).unwrap().problems;
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("nats-dc2") && problems[0].contains("/var/lib/nats/jetstream"),
        "{problems:#?}"
    );
}

#[test]
fn the_outage_configuration_itself_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("nats.conf"),
        "jetstream {\n  store_dir: /data/jetstream\n  max_mem: 1G\n}\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("docker-compose.yml"),
        "services:\n  nats:\n    image: nats:2.10.25\n    command: [\"-c\", \"/etc/nats/nats.conf\"]\n    volumes:\n      - ./nats.conf:/etc/nats/nats.conf:ro\n      - huangpu_nats:/nats\nvolumes:\n  huangpu_nats:\n",
    )
    .unwrap();
    let problems = check_compose(&tmp.path().join("docker-compose.yml"))
        .unwrap()
        .problems;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("/data/jetstream") && p.contains("not on any volume")),
        "{problems:#?}"
    );
}

#[test]
fn a_nacre_node_without_its_volume_is_caught() {
    let (_tmp, file) = copy_with("standalone.yml", |t| {
        t.replace("      - nacre-data:/var/lib/nacre\n", "")
    });
    let problems = check_compose(&file).unwrap().problems;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Nacre data directory /var/lib/nacre")),
        "{problems:#?}"
    );
}

/// Seed 001's outage: the marker on the store's own volume, so `down -v` takes both.
#[test]
fn an_identity_that_down_v_deletes_with_the_store_is_caught() {
    let (_tmp, file) = copy_with("standalone.yml", |t| {
        t.replace("      NACRE_IDENTITY_DIR: /var/lib/nacre-identity\n", "")
    });
    let problems = check_compose(&file).unwrap().problems;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("identity marker /var/lib/nacre") && p.contains("down -v")),
        "{problems:#?}"
    );
}

/// Bind mounts are common in production: the store on one persists, so it is a warning.
#[test]
fn a_store_on_a_bind_mount_is_a_warning_not_a_failure() {
    let (_tmp, file) = copy_with("standalone.yml", |t| {
        t.replace("nacre-data:/var/lib/nacre\n", "/srv/nacre:/var/lib/nacre\n")
    });
    let report = check_compose(&file).unwrap();
    assert!(report.problems.is_empty(), "{report:#?}");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("bind mount of /srv/nacre")),
        "{report:#?}"
    );
}

#[test]
fn the_command_line_check_fails_loudly_on_a_bad_file() {
    let (_tmp, file) = copy_with("cluster.yml", |t| {
        t.replace("nacre-1-data:/var/lib/nacre", "nacre-1-data:/srv")
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"))
        .arg("check-compose")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nacre-1"));
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"))
        .arg("check-compose")
        .args([
            repo().join("compose/standalone.yml"),
            repo().join("compose/cluster.yml"),
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn the_image_and_the_nats_configs_agree_with_the_check() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!("NACRE_DATA_DIR={IMAGE_DATA_DIR}"))
            && dockerfile.contains(&format!("VOLUME {IMAGE_DATA_DIR}"))
    );
    for conf in [
        "standalone.conf",
        "cluster-dc1.conf",
        "cluster-dc2.conf",
        "cluster-dc3.conf",
    ] {
        let text = std::fs::read_to_string(repo().join("nats").join(conf)).unwrap();
        assert_eq!(
            store_dir(&text).as_deref(),
            Some("/var/lib/nats/jetstream"),
            "{conf}"
        );
    }
    let cluster = std::fs::read_to_string(repo().join("nats/cluster-dc1.conf")).unwrap();
    assert!(
        cluster.contains("unique_tag: \"dc\"") && cluster.contains("dc:dc1"),
        "one replica per datacenter"
    );
}
