// Create or edit a config: CodeMirror with highlighting by type, a diff against the current
// version before publishing, and compare-and-set on save (casMd5): a concurrent change is
// shown as a conflict with its diff and never overwritten unless the user chooses to.

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, call, send, tenant, type ConfigDetail } from "../api";
import { useApp } from "../context";
import type { Editor } from "../editor";
import { t } from "../i18n";
import { go, href } from "../router";
import { bytes, DiffView, ErrorBox, Loading, message, Modal, time, useAction } from "../ui";

export const TYPES = ["text", "yaml", "properties", "json", "xml", "html"];

/** The type a dataId's extension suggests. */
export function typeOf(dataId: string): string {
  const ext = dataId.split(".").pop()?.toLowerCase() ?? "";
  if (ext === "yml") return "yaml";
  return TYPES.includes(ext) ? ext : "text";
}

async function fetchConfig(ns: string, group: string, dataId: string): Promise<ConfigDetail | null> {
  const r = await call("GET", "/nacos/v1/cs/configs", { query: { dataId, group, tenant: tenant(ns), show: "all" } });
  const text = await r.text();
  return text ? (JSON.parse(text) as ConfigDetail) : null;
}

/** A message that survives the move from "new config" to its own page. */
let flash = "";

interface Conflict {
  base: string;
  theirs: ConfigDetail | null;
}

export function ConfigEdit({ params }: { params: Record<string, string> }) {
  const app = useApp();
  const ns = params.ns || app.ns;
  const editing = Boolean(params.dataId);
  const [dataId, setDataId] = useState(params.dataId ?? "");
  const [group, setGroup] = useState(params.group ?? "DEFAULT_GROUP");
  const [type, setType] = useState("text");
  const [desc, setDesc] = useState("");
  const [appName, setAppName] = useState("");
  const [tags, setTags] = useState("");
  const [content, setContent] = useState("");
  /** The version the edit started from: what compare-and-set expects. */
  const [base, setBase] = useState<ConfigDetail | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [loaded, setLoaded] = useState(!editing);
  const [review, setReview] = useState(false);
  const [conflict, setConflict] = useState<Conflict | null>(null);
  const [published, setPublished] = useState(() => {
    const message = flash;
    flash = "";
    return message;
  });
  const [error, busy, run, setError] = useAction();
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<Editor | null>(null);
  const reviewRef = useRef(() => {});
  reviewRef.current = () => setReview(true);

  const adopt = (c: ConfigDetail | null) => {
    setBase(c);
    if (c) {
      setType(c.type || typeOf(c.dataId));
      setDesc(c.desc ?? "");
      setAppName(c.appName ?? "");
      setTags(c.configTags ?? "");
      setContent(c.content);
      editor.current?.setDoc(c.content);
    }
  };

  useEffect(() => {
    if (!editing) return;
    fetchConfig(ns, params.group, params.dataId).then(
      (c) => {
        if (!c) setLoadError(new Error(t("configGone")));
        adopt(c);
        setLoaded(true);
      },
      (e) => {
        setLoadError(e);
        setLoaded(true);
      },
    );
  }, [ns, params.group, params.dataId]);

  // The editor is its own chunk: the list pages never load it.
  useEffect(() => {
    if (!loaded || !host.current) return;
    let cancelled = false;
    import("../editor").then(({ createEditor }) => {
      if (cancelled || !host.current) return;
      editor.current = createEditor(host.current, content, type, setContent, () => reviewRef.current());
    });
    return () => {
      cancelled = true;
      editor.current?.destroy();
      editor.current = null;
    };
  }, [loaded]);

  useEffect(() => editor.current?.setType(type), [type]);

  const limit = app.info.maxContentBytes;
  const size = new TextEncoder().encode(content).length;

  const publish = (casMd5: string | undefined) =>
    run(async () => {
      if (!editing) {
        const exists = await fetchConfig(ns, group.trim(), dataId.trim());
        if (exists) throw new Error(t("alreadyExists", { name: `${group}/${dataId}` }));
      }
      try {
        await send("POST", "/nacos/v1/cs/configs", {
          form: {
            dataId: dataId.trim(),
            group: group.trim(),
            tenant: tenant(ns),
            content,
            type,
            desc,
            appName,
            config_tags: tags,
            casMd5,
          },
        });
      } catch (e) {
        if (e instanceof ApiError && /cas publish fail/i.test(e.message)) {
          setReview(false);
          setConflict({ base: base?.content ?? "", theirs: await fetchConfig(ns, group, dataId) });
          return;
        }
        throw e;
      }
      setReview(false);
      setConflict(null);
      const now = await fetchConfig(ns, group.trim(), dataId.trim());
      adopt(now);
      setPublished(t("publishedAt", { time: time(Date.now()) }));
      if (!editing) {
        flash = t("publishedAt", { time: time(Date.now()) });
        go("/configs/edit", { ns, group: group.trim(), dataId: dataId.trim() });
      }
    });

  if (loadError) return <ErrorBox error={loadError} />;
  return (
    <section class="editor-page">
      <div class="toolbar">
        <h1>{editing ? `${group} / ${dataId}` : t("newConfig")}</h1>
        <span class="badge">{ns}</span>
        {editing && (
          <>
            <a href={href("/configs/history", { ns, group, dataId })}>{t("history")}</a>
            <a href={href("/configs/listeners", { ns, group, dataId })}>{t("listeners")}</a>
            <a href={href("/travel", { kind: "config", ns, group, dataId })}>{t("timeTravel")}</a>
          </>
        )}
      </div>
      <Loading when={!loaded} />
      <div class="form-grid">
        <label>
          {t("dataId")}
          <input name="dataId" value={dataId} disabled={editing} required onInput={(e) => {
            const v = (e.target as HTMLInputElement).value;
            setDataId(v);
            setType(typeOf(v));
          }} />
        </label>
        <label>
          {t("group")}
          <input name="group" value={group} disabled={editing} required onInput={(e) => setGroup((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("type")}
          <select name="type" value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
            {TYPES.map((ty) => (
              <option key={ty}>{ty}</option>
            ))}
          </select>
        </label>
        <label>
          {t("appName")}
          <input name="appName" value={appName} onInput={(e) => setAppName((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("tags")}
          <input name="tags" value={tags} onInput={(e) => setTags((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("description")}
          <input name="desc" value={desc} onInput={(e) => setDesc((e.target as HTMLInputElement).value)} />
        </label>
      </div>
      <div class="editor" ref={host} data-testid="editor" />
      <div class="toolbar">
        <button class="primary" disabled={busy || !dataId.trim() || !group.trim()} onClick={() => setReview(true)} title="Ctrl+S">
          {t("reviewPublish")}
        </button>
        <span class={size > limit ? "error-text" : "muted"}>
          {bytes(size)} / {bytes(limit)}
        </span>
        {base && (
          <span class="muted">
            md5 {base.md5} · {t("modified")} {time(base.modifyTime)}
          </span>
        )}
        {published && (
          <span role="status" class="ok">
            {published}
          </span>
        )}
      </div>
      <ErrorBox error={error} />
      {review && (
        <Modal title={t("reviewPublish")} onClose={() => setReview(false)}>
          <p class="muted">{editing ? t("diffAgainstCurrent") : t("newConfigDiff")}</p>
          <DiffView before={base?.content ?? ""} after={content} label={t("changesToPublish")} />
          <ErrorBox error={error} />
          <div class="buttons">
            <button class="primary" disabled={busy} onClick={() => publish(editing ? base?.md5 : undefined)}>
              {t("publish")}
            </button>
            <button onClick={() => setReview(false)}>{t("cancel")}</button>
          </div>
        </Modal>
      )}
      {conflict && (
        <Modal title={t("conflict")} onClose={() => setConflict(null)}>
          <div class="error" role="alert">
            {t("conflictExplained")}
          </div>
          <h3>{t("theirChange")}</h3>
          <DiffView before={conflict.base} after={conflict.theirs?.content ?? ""} label={t("theirChange")} />
          <h3>{t("yourChangeOnTheirs")}</h3>
          <DiffView before={conflict.theirs?.content ?? ""} after={content} label={t("yourChangeOnTheirs")} />
          <div class="buttons">
            <button onClick={() => (adopt(conflict.theirs), setConflict(null))}>{t("takeTheirs")}</button>
            <button
              class="danger"
              onClick={() => {
                const theirs = conflict.theirs;
                setBase(theirs);
                setConflict(null);
                publish(theirs?.md5).catch((e) => setError(message(e)));
              }}
            >
              {t("publishMineOverTheirs")}
            </button>
            <button onClick={() => setConflict(null)}>{t("keepEditing")}</button>
          </div>
        </Modal>
      )}
    </section>
  );
}

