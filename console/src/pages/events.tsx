// The live event feed (server-sent events from the change feed), filtered by namespace, group
// and kind; and one event: what it was, who made it, its trace id.

import { useEffect, useRef, useState } from "preact/hooks";
import { getJson, qs, session, type EventView } from "../api";
import { useApp } from "../context";
import { t } from "../i18n";
import { href } from "../router";
import { Empty, ErrorBox, Loading, time, useAsync } from "../ui";

const KINDS = ["config", "service", "namespace", "kv", "session", "package"];
const KEEP = 500;

/** Where an event's entity lives in the console. */
export function entityLink(e: EventView): string | null {
  switch (e.kind) {
    case "config":
      return href("/configs/edit", { ns: e.namespace, group: e.group, dataId: e.name });
    case "service":
      return href("/services/detail", { ns: e.namespace, group: e.group, name: e.name });
    case "kv":
      return href("/kv", { key: e.name, prefix: e.name.includes("/") ? e.name.slice(0, e.name.lastIndexOf("/") + 1) : "" });
    case "package":
      return href("/packages");
    default:
      return null;
  }
}

export function shortType(type: string): string {
  return type.replace(/^nacre\./, "").replace(/\.v\d+$/, "");
}

export function Events() {
  const [namespace, setNamespace] = useState("");
  const [group, setGroup] = useState("");
  const [kinds, setKinds] = useState<string[]>([]);
  const [events, setEvents] = useState<EventView[]>([]);
  const [state, setState] = useState<"connecting" | "live" | "retrying">("connecting");
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(false);
  pausedRef.current = paused;

  useEffect(() => {
    setEvents([]);
    setState("connecting");
    const url =
      "/nacre/v1/events/stream" +
      qs({
        backlog: 50,
        namespace: namespace || undefined,
        group: group.trim() || undefined,
        kind: kinds.length ? kinds.join(",") : undefined,
        // EventSource sends no headers: the token travels as Nacos clients send it.
        accessToken: session.token || undefined,
      });
    const source = new EventSource(url);
    source.onopen = () => setState("live");
    source.onerror = () => setState("retrying");
    source.addEventListener("change", (m) => {
      if (pausedRef.current) return;
      const event = JSON.parse((m as MessageEvent).data) as EventView;
      setEvents((list) => [event, ...list.filter((e) => e.seq !== event.seq)].slice(0, KEEP));
    });
    return () => source.close();
  }, [namespace, group, kinds.join(",")]);

  const toggle = (k: string) => setKinds(kinds.includes(k) ? kinds.filter((x) => x !== k) : [...kinds, k]);
  return (
    <section>
      <div class="toolbar">
        <h1>{t("liveEvents")}</h1>
        <span class={`badge ${state === "live" ? "ok" : "warn"}`} role="status">
          {t(state)}
        </span>
        <button onClick={() => setPaused(!paused)} aria-pressed={paused}>
          {paused ? t("resume") : t("pause")}
        </button>
        <button onClick={() => setEvents([])}>{t("clear")}</button>
      </div>
      <form class="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          {t("namespace")}
          <input name="namespace" value={namespace} placeholder={t("all")} onChange={(e) => setNamespace((e.target as HTMLInputElement).value.trim())} />
        </label>
        <label>
          {t("group")}
          <input name="group" value={group} placeholder={t("all")} onChange={(e) => setGroup((e.target as HTMLInputElement).value)} />
        </label>
        <fieldset class="kinds">
          <legend>{t("kind")}</legend>
          {KINDS.map((k) => (
            <label class="check" key={k}>
              <input type="checkbox" checked={kinds.includes(k)} onChange={() => toggle(k)} />
              {t(`kind_${k}` as "kind_config")}
            </label>
          ))}
        </fieldset>
      </form>
      {events.length === 0 ? (
        <Empty>{t("waitingForEvents")}</Empty>
      ) : (
        <table class="list" aria-label={t("liveEvents")}>
          <thead>
            <tr>
              <th>{t("seq")}</th>
              <th>{t("time")}</th>
              <th>{t("event")}</th>
              <th>{t("namespace")}</th>
              <th>{t("group")}</th>
              <th>{t("name")}</th>
              <th>{t("operator")}</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => {
              const link = entityLink(e);
              return (
                <tr key={e.seq} data-seq={e.seq}>
                  <td>
                    <a href={href(`/events/${e.seq}`)}>{e.seq}</a>
                  </td>
                  <td>{time(e.time)}</td>
                  <td>{shortType(e.type)}</td>
                  <td>{e.namespace}</td>
                  <td>{e.group}</td>
                  <td>{link ? <a href={link}>{e.name}</a> : e.name}</td>
                  <td>
                    {e.actor.user || t("anonymous")}
                    {e.actor.ip && <span class="muted"> @ {e.actor.ip}</span>}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

interface StoredEvent {
  seq: number;
  subject: string;
  time: number;
  type: string;
  actor: { user: string; ip: string };
  traceparent: string | null;
  traceId: string | null;
  view: EventView | null;
  event: unknown;
}

export function EventDetail({ seq }: { seq: string }) {
  const { info } = useApp();
  const event = useAsync(() => getJson<StoredEvent>(`/nacre/v1/events/${encodeURIComponent(seq)}`), [seq]);
  const e = event.data;
  const link = e?.view ? entityLink(e.view) : null;
  return (
    <section>
      <div class="toolbar">
        <h1>
          {t("event")} #{seq}
        </h1>
        <a href={href(`/events/${Number(seq) - 1}`)}>‹ {t("previous")}</a>
        <a href={href(`/events/${Number(seq) + 1}`)}>{t("next")} ›</a>
      </div>
      <ErrorBox error={event.error} />
      <Loading when={event.loading && !e} />
      {e && (
        <>
          <dl class="facts">
            <dt>{t("event")}</dt>
            <dd>{e.type}</dd>
            <dt>{t("time")}</dt>
            <dd>{time(e.time)}</dd>
            <dt>{t("operator")}</dt>
            <dd>
              {e.actor.user || t("anonymous")} {e.actor.ip && `@ ${e.actor.ip}`}
            </dd>
            <dt>{t("subject")}</dt>
            <dd class="mono">{e.subject}</dd>
            <dt>{t("traceId")}</dt>
            <dd class="mono">{e.traceId ?? (info.tracing ? t("notSampled") : t("tracingOff"))}</dd>
            {link && (
              <>
                <dt>{t("entity")}</dt>
                <dd>
                  <a href={link}>{e.view?.name}</a>
                  {(e.view?.kind === "config" || e.view?.kind === "service") && (
                    <>
                      {" · "}
                      <a
                        href={href("/travel", {
                          kind: e.view.kind,
                          ns: e.view.namespace,
                          group: e.view.group,
                          ...(e.view.kind === "config" ? { dataId: e.view.name } : { name: e.view.name }),
                          a: e.seq - 1,
                          b: e.seq,
                        })}
                      >
                        {t("beforeAndAfter")}
                      </a>
                    </>
                  )}
                </dd>
              </>
            )}
          </dl>
          <h2>{t("storedEvent")}</h2>
          <pre class="mono event-json">{JSON.stringify(e.event, null, 2)}</pre>
        </>
      )}
    </section>
  );
}
