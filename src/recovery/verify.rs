//! `nacre verify` and `nacre rebuild`: the views against the fold of the stream.

use std::collections::BTreeMap;

use async_nats::jetstream;
use futures::StreamExt;

use crate::backbone::{self, objects};
use crate::core::model::replay;
use crate::core::projector::read_bucket;
use crate::core::projector::views;
use crate::core::state::State;
use crate::settings::Settings;

/// Every difference between the views and what the stream implies.
pub async fn differences(
    js: &jetstream::Context,
    settings: &Settings,
    state: &State,
) -> Result<Vec<String>, String> {
    let mut diffs = Vec::new();
    for (bucket, wanted) in views::expected(state) {
        let store = js
            .get_key_value(bucket)
            .await
            .map_err(|e| format!("bucket {bucket}: {e}"))?;
        let actual = read_bucket(&store).await?;
        for (key, value) in &wanted {
            match actual.get(key) {
                None => diffs.push(format!("{bucket}/{key}: missing from the view")),
                Some((v, _)) if v != value => {
                    diffs.push(format!("{bucket}/{key}: differs from the stream"))
                }
                Some(_) => {}
            }
        }
        for key in actual.keys().filter(|k| !wanted.contains_key(*k)) {
            diffs.push(format!("{bucket}/{key}: in the view but not in the stream"));
        }
    }
    let packages =
        objects::PackageStore::open(js, backbone::PACKAGES_BUCKET, settings.nats.replicas).await?;
    let mut listed = BTreeMap::new();
    let mut list = packages.store.list().await.map_err(|e| e.to_string())?;
    while let Some(info) = list.next().await {
        let info = info.map_err(|e| e.to_string())?;
        if !info.deleted {
            listed.insert(info.name.clone(), info);
        }
    }
    for (key, entry) in &state.packages {
        match listed.get(&key.path()) {
            None => diffs.push(format!(
                "{}/{}: in the index but not in the Object Store",
                backbone::PACKAGES_BUCKET,
                key.path()
            )),
            Some(info) => {
                if info.nuid != entry.info.nuid
                    || info.size as u64 != entry.info.size
                    || info.digest.as_deref()
                        != Some(objects::digest_header(&entry.info.sha256).as_str())
                {
                    diffs.push(format!(
                        "{}/{}: the Object Store holds other bytes than the index says",
                        backbone::PACKAGES_BUCKET,
                        key.path()
                    ));
                }
            }
        }
    }
    for name in listed.keys() {
        if !state.packages.keys().any(|k| k.path() == *name) {
            diffs.push(format!(
                "{}/{name}: in the Object Store but not in the index",
                backbone::PACKAGES_BUCKET
            ));
        }
    }
    Ok(diffs)
}

/// Whether each bucket's stream agrees with its own subject index. Two nats-servers once run on
/// one store (the damage the data-directory lock now prevents) leave buckets whose index lists
/// keys the stream no longer holds: the projector then takes its lease and can never renew it,
/// and view writes are refused for ever. Read-only: the index's counts must add up to the
/// stream's message count.
pub async fn bucket_damage(js: &jetstream::Context) -> Vec<String> {
    let mut damage = Vec::new();
    for spec in backbone::BUCKETS {
        match index_disagreement(js, spec.name).await {
            Ok(None) => {}
            Ok(Some(d)) => damage.push(format!("{}: damaged: {d}", spec.name)),
            Err(e) => damage.push(format!("{}: unreadable: {e}", spec.name)),
        }
    }
    damage
}

async fn index_disagreement(
    js: &jetstream::Context,
    bucket: &str,
) -> Result<Option<String>, String> {
    let stream = js
        .get_stream(format!("KV_{bucket}"))
        .await
        .map_err(|e| e.to_string())?;
    // The index and the message count of one answer, so a concurrent write cannot disagree.
    let mut subjects = stream
        .info_with_subjects(format!("$KV.{bucket}.>"))
        .await
        .map_err(|e| e.to_string())?;
    let held = subjects.info.state.messages;
    let mut indexed = 0u64;
    while let Some(entry) = subjects.next().await {
        indexed += entry.map_err(|e| e.to_string())?.1 as u64;
    }
    Ok((indexed != held).then(|| {
        format!(
            "its subject index counts {indexed} messages but its stream holds {held}; run `nacre rebuild` with Nacre stopped"
        )
    }))
}

/// `nacre verify`: replays the stream and compares; Ok(true) when everything agrees.
pub async fn verify(settings: &Settings) -> Result<bool, String> {
    let nats = super::Nats::open(settings).await?;
    let outcome = compare(&nats.js, settings).await;
    nats.close().await;
    outcome
}

async fn compare(js: &jetstream::Context, settings: &Settings) -> Result<bool, String> {
    let state = replay(js, &settings.nats.stream).await?;
    let mut diffs = bucket_damage(js).await;
    diffs.extend(differences(js, settings, &state).await?);
    let configs = state.live_configs().count();
    let instances: usize = state.registry.values().map(|e| e.instances.len()).sum();
    println!(
        "replayed {} events: {configs} configs, {} namespaces, {instances} instances, {} packages",
        state.applied,
        state.namespaces.len() + 1,
        state.packages.len()
    );
    for d in &diffs {
        println!("DIFF {d}");
    }
    if diffs.is_empty() {
        println!("the views agree with the event stream");
    } else {
        println!(
            "{} difference(s): run `nacre rebuild` to rewrite the views from the stream",
            diffs.len()
        );
    }
    Ok(diffs.is_empty())
}

/// `nacre rebuild`: recreates the view and lease buckets (which hold nothing the stream does
/// not) and writes the views again from the stream; republishes package metadata that differs.
pub async fn rebuild(settings: &Settings) -> Result<(), String> {
    let nats = super::Nats::open(settings).await?;
    let outcome = rebuild_on(&nats.js, settings).await;
    nats.close().await;
    outcome
}

async fn rebuild_on(js: &jetstream::Context, settings: &Settings) -> Result<(), String> {
    let state = replay(js, &settings.nats.stream).await?;
    let views = views::expected(&state);
    for spec in backbone::BUCKETS {
        let store = backbone::recreate_bucket(js, spec, settings.nats.replicas).await?;
        let entries = views.get(spec.name);
        for (key, value) in entries.into_iter().flatten() {
            store
                .put(key, value.clone())
                .await
                .map_err(|e| format!("{}/{key}: {e}", spec.name))?;
        }
        println!(
            "rebuilt {}: {} entries",
            spec.name,
            entries.map_or(0, |e| e.len())
        );
    }
    // Package metadata is a view too: republish what the index says where it differs.
    let packages =
        objects::PackageStore::open(js, backbone::PACKAGES_BUCKET, settings.nats.replicas).await?;
    let mut republished = 0;
    for (key, entry) in &state.packages {
        let ok = match packages.store.info(key.path()).await {
            Ok(info) => info.nuid == entry.info.nuid && !info.deleted,
            Err(_) => false,
        };
        if !ok {
            objects::publish_meta(&packages, &key.path(), &entry.info)
                .await
                .map_err(|e| e.to_string())?;
            republished += 1;
        }
    }
    println!("package metadata republished: {republished}");
    Ok(())
}
