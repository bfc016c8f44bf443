// Cluster: Nacre nodes (where they are, how far each has applied the stream), the event
// stream's replicas and placement, the last backup.

import { useEffect } from "preact/hooks";
import { getJson } from "../api";
import { t } from "../i18n";
import { bytes, ErrorBox, Loading, time, useAsync } from "../ui";

interface NodeRow {
  name: string;
  address?: string;
  datacenter?: string;
  region?: string;
  zone?: string;
  version?: string;
  startedAt?: number;
  seenAt?: number;
  answered: boolean;
  status: { applied: number; lag: number; health: string; listeners: number; subscribers: number; grpcConnections: number; natsConnected: boolean } | null;
}

interface ClusterView {
  node: string;
  complete: boolean;
  nodes: NodeRow[];
  stream: {
    error?: string;
    name?: string;
    replicas?: number;
    configuredReplicas?: number;
    placement?: { cluster: string | null; tags: string[] } | null;
    storage?: string;
    messages?: number;
    bytes?: number;
    firstSeq?: number;
    lastSeq?: number;
    cluster?: { name: string | null; leader: string | null; replicas: { name: string; current: boolean; offline: boolean; lag: number | null; activeMs: number }[] } | null;
  };
  lastBackup: Record<string, unknown> | null;
}

export function Cluster() {
  const view = useAsync(() => getJson<ClusterView>("/nacre/v1/cluster"), []);
  useEffect(() => {
    const timer = setInterval(view.reload, 5000);
    return () => clearInterval(timer);
  }, []);
  const c = view.data;
  const s = c?.stream;
  return (
    <section>
      <div class="toolbar">
        <h1>{t("cluster")}</h1>
        <button onClick={view.reload}>{t("refresh")}</button>
      </div>
      <ErrorBox error={view.error} />
      <Loading when={view.loading && !c} />
      {c && (
        <>
          <h2>{t("nodes")}</h2>
          {!c.complete && <p class="warn">{t("partialAnswer")}</p>}
          <table class="list" aria-label={t("nodes")}>
            <thead>
              <tr>
                <th>{t("node")}</th>
                <th>{t("address")}</th>
                <th>{t("datacenter")}</th>
                <th>{t("region")}</th>
                <th>{t("zone")}</th>
                <th>{t("applied")}</th>
                <th>{t("lag")}</th>
                <th>{t("state")}</th>
                <th>{t("connections")}</th>
                <th>{t("started")}</th>
              </tr>
            </thead>
            <tbody>
              {c.nodes.map((n) => (
                <tr key={n.name}>
                  <td>
                    {n.name} {n.name === c.node && <span class="badge">{t("thisNode")}</span>}
                  </td>
                  <td>{n.address}</td>
                  <td>{n.datacenter}</td>
                  <td>{n.region}</td>
                  <td>{n.zone}</td>
                  <td>{n.status?.applied ?? "—"}</td>
                  <td class={n.status && n.status.lag > 0 ? "warn" : ""}>{n.status?.lag ?? "—"}</td>
                  <td>{n.status ? n.status.health : t("noAnswer")}</td>
                  <td>
                    {n.status ? `${n.status.grpcConnections} gRPC · ${n.status.listeners} ${t("listeners")} · ${n.status.subscribers} ${t("subscribers")}` : ""}
                  </td>
                  <td>{time(n.startedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>{t("stream")}</h2>
          {s?.error ? (
            <div class="error">{s.error}</div>
          ) : (
            <dl class="facts">
              <dt>{t("name")}</dt>
              <dd>{s?.name}</dd>
              <dt>{t("replicas")}</dt>
              <dd>
                {s?.replicas} ({t("configured")}: {s?.configuredReplicas})
              </dd>
              <dt>{t("placement")}</dt>
              <dd>{s?.placement ? [s.placement.cluster, ...(s.placement.tags ?? [])].filter(Boolean).join(", ") : "—"}</dd>
              <dt>{t("leader")}</dt>
              <dd>{s?.cluster?.leader ?? "—"}</dd>
              <dt>{t("events")}</dt>
              <dd>
                {s?.messages} ({bytes(s?.bytes ?? 0)}), {t("sequences")} {s?.firstSeq}–{s?.lastSeq}
              </dd>
              <dt>{t("storage")}</dt>
              <dd>{s?.storage}</dd>
            </dl>
          )}
          {s?.cluster && s.cluster.replicas.length > 0 && (
            <table class="list" aria-label={t("replicas")}>
              <thead>
                <tr>
                  <th>{t("replica")}</th>
                  <th>{t("current")}</th>
                  <th>{t("lag")}</th>
                  <th>{t("lastSeen")}</th>
                </tr>
              </thead>
              <tbody>
                {s.cluster.replicas.map((r) => (
                  <tr key={r.name} class={r.offline ? "offline" : ""}>
                    <td>{r.name}</td>
                    <td>{r.current ? t("yes") : t("no")}</td>
                    <td>{r.lag ?? 0}</td>
                    <td>{r.activeMs} ms</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h2>{t("lastBackup")}</h2>
          {c.lastBackup ? <pre class="mono">{JSON.stringify(c.lastBackup, null, 2)}</pre> : <p>{t("none")}</p>}
        </>
      )}
    </section>
  );
}
