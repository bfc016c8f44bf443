//! `nacre status`: what an operator needs to see before deciding anything — whether a process
//! holds the data directory, the identity marker, the event stream and its cluster id, what the
//! identity check would decide, every node's applied sequence and lag, the views, the last backup.

use crate::backbone::identity::{self, Evidence};
use crate::backbone::lock::DataDirLock;
use crate::backbone::{self, BUCKETS};
use crate::settings::Settings;

pub async fn status(settings: &Settings) -> Result<(), String> {
    if settings.standalone() {
        let held = DataDirLock::is_held(&settings.data_dir);
        println!(
            "data dir:     {} ({})",
            settings.data_dir.display(),
            if held {
                "Nacre is running on it"
            } else {
                "no Nacre process on it"
            }
        );
    }
    let marker_path = identity::marker_path(&settings.identity_dir());
    let marker = identity::read_marker(&marker_path).map_err(|e| e.to_string())?;
    match &marker {
        Some(m) => println!(
            "marker:       {}: cluster {}, stream {}, highest sequence seen {} (at {})",
            marker_path.display(),
            m.cluster_id,
            m.stream,
            m.high_water,
            m.updated_at
        ),
        None => println!("marker:       none at {}", marker_path.display()),
    }
    let newest_backup = super::snapshot::newest_backup(&settings.backup_dir());
    match &newest_backup {
        Some(b) => println!(
            "last backup:  {} made {}: cluster {}, sequence {}",
            b.path,
            b.created_at,
            b.cluster_id.as_deref().unwrap_or("?"),
            b.last_seq
        ),
        None => println!("last backup:  none in {}", settings.backup_dir().display()),
    }

    let nats = super::Nats::open(settings).await?;
    let result = report_store(&nats, settings, marker.as_ref(), newest_backup).await;
    nats.close().await;
    result
}

async fn report_store(
    nats: &super::Nats,
    settings: &Settings,
    marker: Option<&identity::Marker>,
    newest_backup: Option<identity::BackupSeen>,
) -> Result<(), String> {
    let js = &nats.js;
    let facts = backbone::stream_facts(js, &settings.nats.stream)
        .await
        .map_err(|e| e.to_string())?;
    if facts.exists {
        let mut stream = js
            .get_stream(&settings.nats.stream)
            .await
            .map_err(|e| e.to_string())?;
        let info = stream.info().await.map_err(|e| e.to_string())?;
        let placement = info.cluster.as_ref().map_or_else(
            || "standalone".to_owned(),
            |c| {
                let replicas: Vec<String> = c
                    .replicas
                    .iter()
                    .map(|r| format!("{} (current {})", r.name, r.current))
                    .collect();
                format!(
                    "leader {}, replicas {}",
                    c.leader.as_deref().unwrap_or("none"),
                    if replicas.is_empty() {
                        "none".into()
                    } else {
                        replicas.join(", ")
                    }
                )
            },
        );
        println!(
            "stream:       {}: {} events, last sequence {}, {} replica(s), {placement}; cluster {}",
            settings.nats.stream,
            info.state.messages,
            info.state.last_sequence,
            info.config.num_replicas,
            facts
                .cluster_id
                .as_deref()
                .unwrap_or("? (no genesis event)")
        );
    } else {
        println!("stream:       {} does not exist", settings.nats.stream);
    }
    let evidence = Evidence {
        newest_backup,
        expect_existing: settings.identity.expect_existing_store,
    };
    let marker_path = identity::marker_path(&settings.identity_dir());
    match identity::decide(marker, &marker_path, &evidence, &facts, false) {
        Ok(identity::Decision::Genesis) => {
            println!("start-up:     would start a new installation (genesis)")
        }
        Ok(identity::Decision::Continue(id)) => {
            println!("start-up:     would start on cluster {id}")
        }
        Err(refusal) => println!("start-up:     would refuse:\n{refusal}"),
    }
    if let Ok(leases) = js.get_key_value(backbone::LEASES_BUCKET).await {
        let nodes = crate::core::cluster::read_nodes(&leases).await;
        if nodes.is_empty() {
            println!("nodes:        none announced in the last few seconds");
        }
        for n in nodes {
            println!(
                "node:         {} ({}, dc {}{}{}): applied {}, {} behind, seen {} ms ago",
                n.name,
                n.address,
                n.datacenter,
                if n.region.is_empty() {
                    String::new()
                } else {
                    format!(", region {}", n.region)
                },
                if n.zone.is_empty() {
                    String::new()
                } else {
                    format!(", zone {}", n.zone)
                },
                n.applied,
                facts.last_seq.saturating_sub(n.applied),
                chrono::Utc::now().timestamp_millis() - n.seen_at
            );
        }
        let holder = match leases.get(crate::core::projector::LEASE_KEY).await {
            Ok(Some(node)) => String::from_utf8_lossy(&node).into_owned(),
            _ => "nobody".into(),
        };
        println!("projector:    lease held by {holder}");
    }
    for spec in BUCKETS {
        match js.get_key_value(spec.name).await {
            Ok(store) => match store.status().await {
                Ok(s) => println!(
                    "bucket:       {}: {} entries, last sequence {}",
                    spec.name, s.info.state.messages, s.info.state.last_sequence
                ),
                Err(e) => println!("bucket:       {}: unreadable: {e}", spec.name),
            },
            Err(_) => println!("bucket:       {}: missing", spec.name),
        }
    }
    println!("(`nacre verify` compares every view with the stream)");
    Ok(())
}
