// Consul KV through the Consul API (mounted on the console's origin): a folder browser with
// create, edit (flags; saves are check-and-set on the ModifyIndex read), delete and delete-tree;
// sessions and the locks they hold.

import { useState } from "preact/hooks";
import { ApiError, fromBase64, getJson, send, type KvEntry } from "../api";
import { useApp } from "../context";
import { t } from "../i18n";
import { filterByPattern } from "../glob";
import { go, href } from "../router";
import { DiffView, Empty, ErrorBox, Highlighted, Loading, Modal, useAction, useAsync } from "../ui";

interface Session {
  ID: string;
  Name: string;
  Node: string;
  TTL: string;
  Behavior: string;
}

async function keysUnder(prefix: string): Promise<string[]> {
  try {
    return await getJson<string[]>(`/v1/kv/${encodeKey(prefix)}`, { consul: true, query: { keys: "", separator: "/" } });
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return [];
    throw e;
  }
}

async function readKey(key: string): Promise<KvEntry | null> {
  try {
    const entries = await getJson<KvEntry[]>(`/v1/kv/${encodeKey(key)}`, { consul: true });
    return entries[0] ?? null;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

/** A key in a URL path: each segment escaped, the slashes kept. */
export function encodeKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

export function Kv({ params }: { params: Record<string, string> }) {
  const { info } = useApp();
  const prefix = params.prefix ?? "";
  const [filter, setFilter] = useState("");
  const [error, busy, run] = useAction();
  const [creating, setCreating] = useState(false);
  const keys = useAsync(() => keysUnder(prefix), [prefix]);
  const sessions = useAsync(() => getJson<Session[]>("/v1/session/list", { consul: true }), []);
  const open = params.key;

  if (!info.consul.enabled) return <Empty>{t("consulOff")}</Empty>;
  const crumbs = prefix.split("/").filter(Boolean);
  const shown = filterByPattern(keys.data ?? [], filter, (k) => k.slice(prefix.length));
  const removeTree = () => {
    if (!confirm(t("confirmDeleteTree", { prefix }))) return;
    run(async () => {
      await send("DELETE", `/v1/kv/${encodeKey(prefix)}`, { consul: true, query: { recurse: "" } });
      go("/kv", { prefix: crumbs.slice(0, -1).map((c) => c + "/").join("") });
    });
  };
  return (
    <section>
      <div class="toolbar">
        <h1>{t("kv")}</h1>
        <nav class="crumbs" aria-label={t("folder")}>
          <a href={href("/kv")}>/</a>
          {crumbs.map((c, i) => (
            <a key={i} href={href("/kv", { prefix: crumbs.slice(0, i + 1).join("/") + "/" })}>
              {c}/
            </a>
          ))}
        </nav>
        <button class="primary" onClick={() => setCreating(true)}>
          {t("createKey")}
        </button>
        {prefix && (
          <button class="danger" disabled={busy} onClick={removeTree}>
            {t("deleteTree")}
          </button>
        )}
      </div>
      <form class="search" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          {t("filter")}
          <input value={filter} placeholder={t("patternHint")} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        </label>
      </form>
      <ErrorBox error={keys.error} />
      <ErrorBox error={error} />
      <Loading when={keys.loading && !keys.data} />
      {keys.data && shown.length === 0 && <Empty>{t("noKeys")}</Empty>}
      {shown.length > 0 && (
        <ul class="keys" aria-label={t("keys")}>
          {shown.map((k) => (
            <li key={k}>
              {k.endsWith("/") ? (
                <a href={href("/kv", { prefix: k })}>📁 <Highlighted pattern={filter} text={k.slice(prefix.length)} /></a>
              ) : (
                <a href={href("/kv", { prefix, key: k })}>
                  <Highlighted pattern={filter} text={k.slice(prefix.length)} />
                </a>
              )}
            </li>
          ))}
        </ul>
      )}
      {open && <KeyEditor key={open} name={open} sessions={sessions.data ?? []} onChanged={keys.reload} />}
      {creating && (
        <CreateKey
          prefix={prefix}
          onClose={() => setCreating(false)}
          onCreated={(k) => {
            setCreating(false);
            keys.reload();
            go("/kv", { prefix, key: k });
          }}
        />
      )}
      <h2>{t("sessions")}</h2>
      <ErrorBox error={sessions.error} />
      {sessions.data && sessions.data.length === 0 && <Empty>{t("noSessions")}</Empty>}
      {sessions.data && sessions.data.length > 0 && (
        <table class="list" aria-label={t("sessions")}>
          <thead>
            <tr>
              <th>ID</th>
              <th>{t("name")}</th>
              <th>{t("node")}</th>
              <th>TTL</th>
              <th>{t("behavior")}</th>
            </tr>
          </thead>
          <tbody>
            {sessions.data.map((s) => (
              <tr key={s.ID}>
                <td class="mono">{s.ID}</td>
                <td>{s.Name}</td>
                <td>{s.Node}</td>
                <td>{s.TTL}</td>
                <td>{s.Behavior}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function KeyEditor({ name, sessions, onChanged }: { name: string; sessions: Session[]; onChanged: () => void }) {
  const entry = useAsync(() => readKey(name), [name]);
  const [value, setValue] = useState<string | null>(null);
  const [flags, setFlags] = useState<string | null>(null);
  const [conflict, setConflict] = useState<KvEntry | null>(null);
  const [saved, setSaved] = useState(false);
  const [error, busy, run] = useAction();
  const e = entry.data;
  const text = value ?? fromBase64(e?.Value ?? null);
  const flagText = flags ?? String(e?.Flags ?? 0);
  const lock = e?.Session ? sessions.find((s) => s.ID === e.Session) : undefined;
  const save = (index: number) =>
    run(async () => {
      setSaved(false);
      if (!/^\d+$/.test(flagText.trim())) throw new Error(t("flagsNumber"));
      const ok = await send<boolean>("PUT", `/v1/kv/${encodeKey(name)}`, {
        consul: true,
        query: { cas: index, flags: flagText.trim() },
        body: text,
      });
      if (ok !== true) {
        setConflict(await readKey(name));
        return;
      }
      setConflict(null);
      setValue(null);
      setFlags(null);
      setSaved(true);
      entry.reload();
    });
  const remove = () => {
    if (!confirm(t("confirmDelete", { name }))) return;
    run(async () => {
      await send("DELETE", `/v1/kv/${encodeKey(name)}`, { consul: true });
      onChanged();
      go("/kv", { prefix: name.includes("/") ? name.slice(0, name.lastIndexOf("/") + 1) : "" });
    });
  };
  return (
    <div class="panel" aria-label={t("key")}>
      <h2 class="mono">{name}</h2>
      <ErrorBox error={entry.error} />
      <Loading when={entry.loading && !e} />
      {entry.data === null && <Empty>{t("keyGone")}</Empty>}
      {e && (
        <>
          <p class="muted">
            ModifyIndex {e.ModifyIndex} · CreateIndex {e.CreateIndex} · LockIndex {e.LockIndex}
            {e.Session && (
              <span class="badge warn">
                🔒 {t("lockedBy")} {lock ? `${lock.Name || lock.ID} (${lock.Node})` : e.Session}
              </span>
            )}
          </p>
          <label>
            {t("value")}
            <textarea name="value" class="mono" rows={10} value={text} onInput={(ev) => setValue((ev.target as HTMLTextAreaElement).value)} />
          </label>
          <label>
            {t("flags")}
            <input name="flags" value={flagText} onInput={(ev) => setFlags((ev.target as HTMLInputElement).value)} />
          </label>
          <ErrorBox error={error} />
          <div class="buttons">
            <button class="primary" disabled={busy} onClick={() => save(e.ModifyIndex)}>
              {t("save")}
            </button>
            <button class="danger" disabled={busy} onClick={remove}>
              {t("delete")}
            </button>
            {saved && (
              <span role="status" class="ok">
                {t("saved")}
              </span>
            )}
          </div>
        </>
      )}
      {conflict !== null && (
        <Modal title={t("conflict")} onClose={() => setConflict(null)}>
          <div class="error" role="alert">
            {t("kvConflict")}
          </div>
          <DiffView before={fromBase64(e?.Value ?? null)} after={fromBase64(conflict?.Value ?? null)} label={t("theirChange")} />
          <div class="buttons">
            <button onClick={() => (setConflict(null), setValue(null), entry.reload())}>{t("takeTheirs")}</button>
            <button class="danger" onClick={() => conflict && save(conflict.ModifyIndex)}>
              {t("publishMineOverTheirs")}
            </button>
          </div>
        </Modal>
      )}
    </div>
  );
}

function CreateKey({ prefix, onClose, onCreated }: { prefix: string; onClose: () => void; onCreated: (key: string) => void }) {
  const [key, setKey] = useState(prefix);
  const [value, setValue] = useState("");
  const [error, busy, run] = useAction();
  const create = () =>
    run(async () => {
      const k = key.trim();
      if (!k) throw new Error(t("keyRequired"));
      // cas=0: only if the key does not exist yet.
      const body = k.endsWith("/") ? undefined : value;
      const ok = await send<boolean>("PUT", `/v1/kv/${encodeKey(k)}`, { consul: true, query: { cas: 0 }, body });
      if (ok !== true) throw new Error(t("alreadyExists", { name: k }));
      onCreated(k);
    });
  return (
    <Modal title={t("createKey")} onClose={onClose}>
      <label>
        {t("key")} <span class="muted">{t("folderHint")}</span>
        <input name="key" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        {t("value")}
        <textarea name="value" rows={6} value={value} onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)} />
      </label>
      <ErrorBox error={error} />
      <div class="buttons">
        <button class="primary" disabled={busy} onClick={create}>
          {t("create")}
        </button>
      </div>
    </Modal>
  );
}

