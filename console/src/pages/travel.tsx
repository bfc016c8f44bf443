// Time travel: a config or a service as it was at a stream sequence or a moment, replayed from
// the stream, and the diff between any two points.

import { useState } from "preact/hooks";
import { getJson, type EventView } from "../api";
import { useApp } from "../context";
import { t } from "../i18n";
import { go, href } from "../router";
import { DiffView, Empty, ErrorBox, Loading, time, useAsync } from "../ui";
import { pointQuery } from "../points";
import { shortType } from "./events";

interface At {
  exists: boolean;
  version: { seq: number; time: number; type: string; actor: { user: string; ip: string }; traceId: string | null } | null;
  config?: { content: string; md5: string; type: string } | null;
  service?: { protectThreshold: number; metadata: Record<string, string>; instances: Record<string, unknown>[] } | null;
}

/** What a point shows, as text to read and to diff. */
export function render(at: At | undefined, kind: string): string {
  if (!at || !at.exists) return "";
  if (kind === "config") return at.config?.content ?? "";
  return JSON.stringify(at.service, null, 2);
}

export function Travel({ params }: { params: Record<string, string> }) {
  const app = useApp();
  const kind = params.kind === "service" ? "service" : "config";
  const ns = params.ns || app.ns;
  const name = kind === "config" ? (params.dataId ?? "") : (params.name ?? "");
  const group = params.group ?? (kind === "config" ? "DEFAULT_GROUP" : "DEFAULT_GROUP");
  const [draft, setDraft] = useState({ kind, group, name });
  const [a, setA] = useState(params.a ?? "");
  const [b, setB] = useState(params.b ?? "");
  const chosen = Boolean(name);
  const entity =
    kind === "config" ? { namespaceId: ns, group, dataId: name } : { namespaceId: ns, groupName: group, serviceName: name };
  const path = kind === "config" ? "/nacre/v1/configs/at" : "/nacre/v1/services/at";
  const timeline = useAsync(
    () =>
      chosen
        ? getJson<{ total: number; items: EventView[] }>("/nacre/v1/timeline", { query: { kind, ...entity } })
        : Promise.resolve(null),
    [kind, ns, group, name],
  );
  const load = (p: string) => (p.trim() ? getJson<At>(path, { query: { ...entity, ...pointQuery(p) } }) : Promise.resolve(undefined));
  const atA = useAsync(() => (chosen ? load(a) : Promise.resolve(undefined)), [kind, ns, group, name, a]);
  const atB = useAsync(() => (chosen ? (b.trim() ? load(b) : getJson<At>(path, { query: entity })) : Promise.resolve(undefined)), [kind, ns, group, name, b]);
  const open = () =>
    go("/travel", {
      kind: draft.kind,
      ns,
      group: draft.group,
      ...(draft.kind === "config" ? { dataId: draft.name } : { name: draft.name }),
    });
  const pointLabel = (at: At | undefined) =>
    at?.version ? `#${at.version.seq} · ${time(at.version.time)} · ${shortType(at.version.type)}` : t("nothingYet");
  return (
    <section>
      <div class="toolbar">
        <h1>{t("timeTravel")}</h1>
        <span class="badge">{ns}</span>
      </div>
      <form class="search" onSubmit={(e) => (e.preventDefault(), open())}>
        <label>
          {t("kind")}
          <select value={draft.kind} onChange={(e) => setDraft({ ...draft, kind: (e.target as HTMLSelectElement).value as "config" })}>
            <option value="config">{t("kind_config")}</option>
            <option value="service">{t("kind_service")}</option>
          </select>
        </label>
        <label>
          {t("group")}
          <input value={draft.group} onInput={(e) => setDraft({ ...draft, group: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          {draft.kind === "config" ? t("dataId") : t("serviceName")}
          <input name="entity" value={draft.name} onInput={(e) => setDraft({ ...draft, name: (e.target as HTMLInputElement).value })} />
        </label>
        <button>{t("open")}</button>
      </form>
      {!chosen && <Empty>{t("chooseEntity")}</Empty>}
      {chosen && (
        <>
          <form class="search" onSubmit={(e) => e.preventDefault()}>
            <label>
              {t("pointA")}
              <input name="a" value={a} placeholder={t("pointHint")} onChange={(e) => setA((e.target as HTMLInputElement).value)} />
            </label>
            <label>
              {t("pointB")}
              <input name="b" value={b} placeholder={t("pointNow")} onChange={(e) => setB((e.target as HTMLInputElement).value)} />
            </label>
          </form>
          <ErrorBox error={atA.error} />
          <ErrorBox error={atB.error} />
          <div class="two">
            <div>
              <h3>A: {a.trim() ? pointLabel(atA.data) : "—"}</h3>
              {a.trim() && atA.data && !atA.data.exists && <Empty>{t("didNotExist")}</Empty>}
              {a.trim() && atA.data?.exists && <pre class="mono snapshot" aria-label={t("pointA")}>{render(atA.data, kind)}</pre>}
            </div>
            <div>
              <h3>B: {pointLabel(atB.data)}</h3>
              {atB.data && !atB.data.exists && <Empty>{t("didNotExist")}</Empty>}
              {atB.data?.exists && <pre class="mono snapshot" aria-label={t("pointB")}>{render(atB.data, kind)}</pre>}
            </div>
          </div>
          {a.trim() && atA.data && atB.data && (
            <>
              <h2>{t("diffAB")}</h2>
              <DiffView before={render(atA.data, kind)} after={render(atB.data, kind)} label={t("diffAB")} />
            </>
          )}
          <h2>{t("timeline")}</h2>
          <ErrorBox error={timeline.error} />
          <Loading when={timeline.loading && !timeline.data} />
          {timeline.data && timeline.data.items.length === 0 && <Empty>{t("noHistory")}</Empty>}
          {timeline.data && timeline.data.items.length > 0 && (
            <table class="list" aria-label={t("timeline")}>
              <thead>
                <tr>
                  <th>{t("seq")}</th>
                  <th>{t("time")}</th>
                  <th>{t("event")}</th>
                  <th>{t("operator")}</th>
                  <th>{t("actions")}</th>
                </tr>
              </thead>
              <tbody>
                {timeline.data.items.map((e) => (
                  <tr key={e.seq}>
                    <td>
                      <a href={href(`/events/${e.seq}`)}>{e.seq}</a>
                    </td>
                    <td>{time(e.time)}</td>
                    <td>{shortType(e.type)}</td>
                    <td>
                      {e.actor.user || t("anonymous")} <span class="muted">{e.actor.ip}</span>
                    </td>
                    <td class="actions">
                      <button class="link" onClick={() => setA(String(e.seq))}>
                        {t("setA")}
                      </button>
                      <button class="link" onClick={() => setB(String(e.seq))}>
                        {t("setB")}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
