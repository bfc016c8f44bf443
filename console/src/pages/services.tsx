// Services: the list per namespace and group with instance and healthy counts (Consul services
// included: one registry), and a service's detail: clusters, instances (weight, enabled,
// metadata editable; taking one offline), protect threshold and metadata, subscribers.

import { useState } from "preact/hooks";
import { getJson, send, type Instance, type ServiceDetail, type ServiceRow } from "../api";
import { useApp } from "../context";
import { t } from "../i18n";
import { href } from "../router";
import { Empty, ErrorBox, Highlighted, Loading, Modal, useAction, useAsync, useDebounced } from "../ui";

const PAGE = 20;

export function Services() {
  const { ns } = useApp();
  const [name, setName] = useState("");
  const [group, setGroup] = useState("");
  const [page, setPage] = useState(1);
  const settled = useDebounced(JSON.stringify([name.trim(), group.trim()]));
  const [qName, qGroup] = JSON.parse(settled) as string[];
  const query = { name: qName, group: qGroup };
  const list = useAsync(
    () =>
      getJson<{ count: number; serviceList: ServiceRow[] }>("/nacos/v1/ns/catalog/services", {
        query: { namespaceId: ns, serviceNameParam: query.name, groupNameParam: query.group, pageNo: page, pageSize: PAGE },
      }),
    [ns, query.name, query.group, page],
  );
  const pages = Math.max(1, Math.ceil((list.data?.count ?? 0) / PAGE));
  return (
    <section>
      <div class="toolbar">
        <h1>{t("services")}</h1>
        <button onClick={list.reload}>{t("refresh")}</button>
      </div>
      <form class="search" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          {t("serviceName")}
          <input name="serviceName" value={name} placeholder={t("patternHint")} onInput={(e) => (setName((e.target as HTMLInputElement).value), setPage(1))} />
        </label>
        <label>
          {t("group")}
          <input name="group" value={group} placeholder={t("patternHint")} onInput={(e) => (setGroup((e.target as HTMLInputElement).value), setPage(1))} />
        </label>
      </form>
      <ErrorBox error={list.error} />
      <Loading when={list.loading && !list.data} />
      {list.data && list.data.serviceList.length === 0 && <Empty>{t("noServices")}</Empty>}
      {list.data && list.data.serviceList.length > 0 && (
        <table class="list" aria-label={t("services")}>
          <thead>
            <tr>
              <th>{t("serviceName")}</th>
              <th>{t("group")}</th>
              <th>{t("clusters")}</th>
              <th>{t("instances")}</th>
              <th>{t("healthy")}</th>
              <th>{t("protectThreshold")}</th>
              <th>{t("actions")}</th>
            </tr>
          </thead>
          <tbody>
            {list.data.serviceList.map((s) => {
              const q = { ns, group: s.groupName, name: s.name };
              return (
                <tr key={`${s.groupName}@@${s.name}`}>
                  <td>
                    <a href={href("/services/detail", q)}>
                      <Highlighted pattern={name} text={s.name} />
                    </a>
                    {s.consul && <span class="badge">Consul</span>}
                  </td>
                  <td>{s.groupName}</td>
                  <td>{s.clusterCount}</td>
                  <td>{s.ipCount}</td>
                  <td class={s.healthyInstanceCount < s.ipCount ? "warn" : ""}>{s.healthyInstanceCount}</td>
                  <td>{s.protectThreshold}</td>
                  <td class="actions">
                    <a href={href("/services/detail", q)}>{t("detail")}</a>
                    <a href={href("/travel", { kind: "service", ...q })}>{t("timeTravel")}</a>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {pages > 1 && (
        <nav class="pager" aria-label={t("pages")}>
          <button disabled={page <= 1} onClick={() => setPage(page - 1)}>
            ‹
          </button>
          <span>
            {page} / {pages}
          </span>
          <button disabled={page >= pages} onClick={() => setPage(page + 1)}>
            ›
          </button>
        </nav>
      )}
    </section>
  );
}

/** `k=v` lines ⇄ a metadata map. */
export function metadataText(m: Record<string, string>): string {
  return Object.entries(m)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");
}

export function parseMetadata(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (!trimmed) continue;
    const at = trimmed.indexOf("=");
    if (at <= 0) throw new Error(t("badMetadataLine", { line: trimmed }));
    out[trimmed.slice(0, at).trim()] = trimmed.slice(at + 1).trim();
  }
  return out;
}

/** Consul checks an instance registered through the Consul API carries (`consul.checks`). */
export function consulChecks(m: Record<string, string>): { id: string; name: string; status: string }[] | null {
  const raw = m["consul.checks"];
  if (!raw) return null;
  try {
    const checks = JSON.parse(raw);
    return Array.isArray(checks) ? checks : null;
  } catch {
    return null;
  }
}

function withoutChecks(m: Record<string, string>): Record<string, string> {
  const { "consul.checks": _checks, ...rest } = m;
  return rest;
}

export function ServiceDetailPage({ params }: { params: Record<string, string> }) {
  const app = useApp();
  const ns = params.ns || app.ns;
  const { group, name } = params;
  const base = { serviceName: name, groupName: group, namespaceId: ns };
  const [editing, setEditing] = useState<Instance | null>(null);
  const [editService, setEditService] = useState(false);
  const [error, busy, run] = useAction();
  const detail = useAsync(() => getJson<ServiceDetail>("/nacos/v1/ns/service", { query: base }), [ns, group, name]);
  const instances = useAsync(
    () => getJson<{ count: number; list: Instance[] }>("/nacos/v1/ns/catalog/instances", { query: { ...base, pageSize: 500 } }),
    [ns, group, name],
  );
  const subscribers = useAsync(
    () =>
      getJson<{ count: number; subscribers: { addrStr: string; agent: string; app: string; node: string }[] }>(
        "/nacos/v1/ns/service/subscribers",
        { query: base },
      ),
    [ns, group, name],
  );
  const setEnabled = (i: Instance, enabled: boolean) =>
    run(async () => {
      await send("PUT", "/nacos/v1/ns/instance", {
        form: { ...base, ip: i.ip, port: i.port, clusterName: i.clusterName, ephemeral: i.ephemeral, enabled },
      });
      instances.reload();
    });
  const list = instances.data?.list ?? [];
  const clusters = [...new Set(list.map((i) => i.clusterName))];
  const anyChecks = list.some((i) => consulChecks(i.metadata));
  return (
    <section>
      <div class="toolbar">
        <h1>
          {group} / {name}
        </h1>
        <span class="badge">{ns}</span>
        <a href={href("/travel", { kind: "service", ns, group, name })}>{t("timeTravel")}</a>
        <button onClick={() => (detail.reload(), instances.reload(), subscribers.reload())}>{t("refresh")}</button>
      </div>
      <ErrorBox error={detail.error} />
      <ErrorBox error={error} />
      {detail.data && (
        <dl class="facts">
          <dt>{t("protectThreshold")}</dt>
          <dd>{detail.data.protectThreshold}</dd>
          <dt>{t("metadata")}</dt>
          <dd class="mono">{metadataText(detail.data.metadata) || "—"}</dd>
          <dt>{t("clusters")}</dt>
          <dd>{clusters.join(", ") || "—"}</dd>
          <dd>
            <button onClick={() => setEditService(true)}>{t("editService")}</button>
          </dd>
        </dl>
      )}
      <h2>{t("instances")}</h2>
      <ErrorBox error={instances.error} />
      <Loading when={instances.loading && !instances.data} />
      {instances.data && list.length === 0 && <Empty>{t("noInstances")}</Empty>}
      {clusters.map((cluster) => (
        <div key={cluster}>
          <h3>
            {t("cluster")}: {cluster}
          </h3>
          <table class="list" aria-label={`${t("cluster")} ${cluster}`}>
            <thead>
              <tr>
                <th>IP</th>
                <th>{t("port")}</th>
                <th>{t("weight")}</th>
                <th>{t("healthy")}</th>
                <th>{t("enabled")}</th>
                <th>{t("ephemeral")}</th>
                <th>{t("metadata")}</th>
                {anyChecks && <th>{t("checks")}</th>}
                <th>{t("actions")}</th>
              </tr>
            </thead>
            <tbody>
              {list
                .filter((i) => i.clusterName === cluster)
                .map((i) => (
                  <tr key={`${i.ip}:${i.port}`} class={i.enabled ? "" : "offline"}>
                    <td>{i.ip}</td>
                    <td>{i.port}</td>
                    <td>{i.weight}</td>
                    <td class={i.healthy ? "ok" : "warn"}>{i.healthy ? t("yes") : t("no")}</td>
                    <td>{i.enabled ? t("yes") : t("no")}</td>
                    <td>{i.ephemeral ? t("yes") : t("no")}</td>
                    <td class="mono small">{metadataText(withoutChecks(i.metadata))}</td>
                    {anyChecks && (
                      <td class="small">
                        {(consulChecks(i.metadata) ?? []).map((c) => (
                          <div key={c.id}>
                            <span class={c.status === "passing" ? "ok" : "warn"}>●</span> {c.name || c.id}: {c.status}
                          </div>
                        ))}
                      </td>
                    )}
                    <td class="actions">
                      <button class="link" onClick={() => setEditing(i)}>
                        {t("edit")}
                      </button>
                      <button class="link" disabled={busy} onClick={() => setEnabled(i, !i.enabled)}>
                        {i.enabled ? t("takeOffline") : t("bringOnline")}
                      </button>
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      ))}
      <h2>{t("subscribers")}</h2>
      <ErrorBox error={subscribers.error} />
      {subscribers.data && subscribers.data.subscribers.length === 0 && <Empty>{t("noSubscribers")}</Empty>}
      {subscribers.data && subscribers.data.subscribers.length > 0 && (
        <table class="list" aria-label={t("subscribers")}>
          <thead>
            <tr>
              <th>{t("address")}</th>
              <th>{t("protocol")}</th>
              <th>{t("app")}</th>
              <th>{t("node")}</th>
            </tr>
          </thead>
          <tbody>
            {subscribers.data.subscribers.map((s) => (
              <tr key={s.addrStr + s.agent}>
                <td>{s.addrStr}</td>
                <td>{s.agent}</td>
                <td>{s.app}</td>
                <td>{s.node}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editing && (
        <InstanceDialog
          instance={editing}
          base={base}
          onClose={() => setEditing(null)}
          onSaved={() => (setEditing(null), instances.reload())}
        />
      )}
      {editService && detail.data && (
        <ServiceDialog detail={detail.data} base={base} onClose={() => setEditService(false)} onSaved={() => (setEditService(false), detail.reload())} />
      )}
    </section>
  );
}

function InstanceDialog({ instance, base, onClose, onSaved }: { instance: Instance; base: Record<string, string>; onClose: () => void; onSaved: () => void }) {
  const [weight, setWeight] = useState(String(instance.weight));
  const [enabled, setEnabled] = useState(instance.enabled);
  const [metadata, setMetadata] = useState(metadataText(instance.metadata));
  const [error, busy, run] = useAction();
  const save = () =>
    run(async () => {
      await send("PUT", "/nacos/v1/ns/instance", {
        form: {
          ...base,
          ip: instance.ip,
          port: instance.port,
          clusterName: instance.clusterName,
          ephemeral: instance.ephemeral,
          weight,
          enabled,
          metadata: JSON.stringify(parseMetadata(metadata)),
        },
      });
      onSaved();
    });
  return (
    <Modal title={`${t("editInstance")} ${instance.ip}:${instance.port}`} onClose={onClose}>
      <label>
        {t("weight")}
        <input name="weight" type="number" min="0" max="10000" step="any" value={weight} onInput={(e) => setWeight((e.target as HTMLInputElement).value)} />
      </label>
      <label class="check">
        <input type="checkbox" name="enabled" checked={enabled} onChange={(e) => setEnabled((e.target as HTMLInputElement).checked)} />
        {t("enabled")}
      </label>
      <label>
        {t("metadata")} <span class="muted">{t("metadataHint")}</span>
        <textarea name="metadata" rows={5} value={metadata} onInput={(e) => setMetadata((e.target as HTMLTextAreaElement).value)} />
      </label>
      <p class="muted small">{t("metadataMerged")}</p>
      <ErrorBox error={error} />
      <div class="buttons">
        <button class="primary" disabled={busy} onClick={save}>
          {t("save")}
        </button>
        <button onClick={onClose}>{t("cancel")}</button>
      </div>
    </Modal>
  );
}

function ServiceDialog({ detail, base, onClose, onSaved }: { detail: ServiceDetail; base: Record<string, string>; onClose: () => void; onSaved: () => void }) {
  const [threshold, setThreshold] = useState(String(detail.protectThreshold));
  const [metadata, setMetadata] = useState(metadataText(detail.metadata));
  const [error, busy, run] = useAction();
  const save = () =>
    run(async () => {
      await send("PUT", "/nacos/v1/ns/service", {
        form: { ...base, protectThreshold: threshold, metadata: JSON.stringify(parseMetadata(metadata)) },
      });
      onSaved();
    });
  return (
    <Modal title={t("editService")} onClose={onClose}>
      <label>
        {t("protectThreshold")}
        <input name="protectThreshold" type="number" min="0" max="1" step="0.05" value={threshold} onInput={(e) => setThreshold((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        {t("metadata")} <span class="muted">{t("metadataHint")}</span>
        <textarea name="metadata" rows={5} value={metadata} onInput={(e) => setMetadata((e.target as HTMLTextAreaElement).value)} />
      </label>
      <ErrorBox error={error} />
      <div class="buttons">
        <button class="primary" disabled={busy} onClick={save}>
          {t("save")}
        </button>
        <button onClick={onClose}>{t("cancel")}</button>
      </div>
    </Modal>
  );
}
