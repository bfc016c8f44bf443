// Configuration list: search by dataId and group (substring, or `*` patterns) and by content,
// create, delete, clone to another namespace, import and export.

import { useState } from "preact/hooks";
import { ApiError, call, data, getJson, send, tenant, type ConfigItem, type Page } from "../api";
import { useApp } from "../context";
import { t } from "../i18n";
import { href } from "../router";
import { Empty, ErrorBox, Highlighted, Loading, Modal, useAction, useAsync, useDebounced } from "../ui";

const PAGE = 20;

export function Configs() {
  const { ns, namespaces } = useApp();
  const [dataId, setDataId] = useState("");
  const [group, setGroup] = useState("");
  const [content, setContent] = useState("");
  const [page, setPage] = useState(1);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [dialog, setDialog] = useState<"" | "clone" | "import">("");
  const [error, busy, run] = useAction();
  // Compared as a string: a new object each render would never settle.
  const settled = useDebounced(JSON.stringify([dataId.trim(), group.trim(), content.trim()]));
  const [qDataId, qGroup, qContent] = JSON.parse(settled) as string[];
  const query = { dataId: qDataId, group: qGroup, content: qContent };
  const list = useAsync(
    () =>
      getJson<Page<ConfigItem>>("/nacos/v1/cs/configs", {
        query: {
          search: "blur",
          dataId: query.dataId,
          group: query.group,
          config_detail: query.content || undefined,
          tenant: tenant(ns),
          pageNo: page,
          pageSize: PAGE,
        },
      }),
    [ns, query.dataId, query.group, query.content, page],
  );
  const items = list.data?.pageItems ?? [];
  const keyOf = (c: ConfigItem) => `${c.group}\u0001${c.dataId}`;
  const toggle = (c: ConfigItem) => {
    const next = new Set(selected);
    if (next.has(keyOf(c))) next.delete(keyOf(c));
    else next.add(keyOf(c));
    setSelected(next);
  };
  const chosen = items.filter((c) => selected.has(keyOf(c)));

  const remove = (c: ConfigItem) => {
    if (!confirm(t("confirmDelete", { name: `${c.group}/${c.dataId}` }))) return;
    run(async () => {
      await send("DELETE", "/nacos/v1/cs/configs", { query: { dataId: c.dataId, group: c.group, tenant: tenant(ns) } });
      list.reload();
    });
  };

  const exportZip = () =>
    run(async () => {
      const ids = chosen.length ? { dataIds: chosen.map((c) => c.dataId).join(",") } : {};
      const r = await call("GET", "/nacos/v3/console/cs/config/export", { query: { namespaceId: ns, ...ids } });
      const blob = await r.blob();
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = `nacre-${ns}-configs.zip`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    });

  const reset = (f: (v: string) => void) => (e: Event) => {
    f((e.target as HTMLInputElement).value);
    setPage(1);
  };

  return (
    <section>
      <div class="toolbar">
        <h1>{t("configs")}</h1>
        <a class="button primary" href={href("/configs/edit", { ns })}>
          {t("create")}
        </a>
        <button onClick={() => setDialog("import")}>{t("import")}</button>
        <button onClick={exportZip} disabled={busy}>
          {chosen.length ? t("exportSelected", { n: chosen.length }) : t("exportAll")}
        </button>
        <button onClick={() => setDialog("clone")} disabled={!chosen.length}>
          {t("cloneTo")}
        </button>
      </div>
      <form class="search" onSubmit={(e) => e.preventDefault()} role="search">
        <label>
          {t("dataId")}
          <input name="dataId" value={dataId} onInput={reset(setDataId)} placeholder={t("patternHint")} />
        </label>
        <label>
          {t("group")}
          <input name="group" value={group} onInput={reset(setGroup)} placeholder={t("patternHint")} />
        </label>
        <label>
          {t("content")}
          <input name="content" value={content} onInput={reset(setContent)} placeholder={t("patternHint")} />
        </label>
      </form>
      <ErrorBox error={error} />
      <ErrorBox error={list.error} />
      <Loading when={list.loading && !list.data} />
      {list.data && items.length === 0 ? (
        <Empty>{t("noConfigs")}</Empty>
      ) : (
        <table class="list" aria-label={t("configs")}>
          <thead>
            <tr>
              <th class="narrow">
                <input
                  type="checkbox"
                  aria-label={t("selectAll")}
                  checked={items.length > 0 && chosen.length === items.length}
                  onChange={(e) =>
                    setSelected(new Set((e.target as HTMLInputElement).checked ? items.map(keyOf) : []))
                  }
                />
              </th>
              <th>{t("dataId")}</th>
              <th>{t("group")}</th>
              <th>{t("type")}</th>
              <th>{t("appName")}</th>
              <th>{t("actions")}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((c) => {
              const q = { ns, group: c.group, dataId: c.dataId };
              return (
                <tr key={keyOf(c)}>
                  <td>
                    <input type="checkbox" aria-label={c.dataId} checked={selected.has(keyOf(c))} onChange={() => toggle(c)} />
                  </td>
                  <td>
                    <a href={href("/configs/edit", q)}>
                      <Highlighted pattern={dataId} text={c.dataId} />
                    </a>
                  </td>
                  <td>
                    <Highlighted pattern={group} text={c.group} />
                  </td>
                  <td>{c.type}</td>
                  <td>{c.appName}</td>
                  <td class="actions">
                    <a href={href("/configs/edit", q)}>{t("edit")}</a>
                    <a href={href("/configs/history", q)}>{t("history")}</a>
                    <a href={href("/configs/listeners", q)}>{t("listeners")}</a>
                    <a href={href("/travel", { kind: "config", ...q })}>{t("timeTravel")}</a>
                    <button class="link danger" onClick={() => remove(c)}>
                      {t("delete")}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {list.data && list.data.pagesAvailable > 1 && (
        <nav class="pager" aria-label={t("pages")}>
          <button disabled={page <= 1} onClick={() => setPage(page - 1)}>
            ‹
          </button>
          <span>
            {page} / {list.data.pagesAvailable} ({list.data.totalCount})
          </span>
          <button disabled={page >= list.data.pagesAvailable} onClick={() => setPage(page + 1)}>
            ›
          </button>
        </nav>
      )}
      {dialog === "clone" && (
        <CloneDialog
          from={ns}
          items={chosen}
          namespaces={namespaces.map((n) => n.namespace).filter((n) => n !== ns)}
          onClose={() => setDialog("")}
        />
      )}
      {dialog === "import" && <ImportDialog ns={ns} onClose={() => (setDialog(""), list.reload())} />}
    </section>
  );
}

function CloneDialog({ from, items, namespaces, onClose }: { from: string; items: ConfigItem[]; namespaces: string[]; onClose: () => void }) {
  const [target, setTarget] = useState(namespaces[0] ?? "");
  const [overwrite, setOverwrite] = useState(false);
  const [done, setDone] = useState<string[]>([]);
  const [error, busy, run] = useAction();
  const clone = () =>
    run(async () => {
      const log: string[] = [];
      for (const c of items) {
        const detail = await getJson<{ content: string; type: string; desc: string | null; appName: string; configTags: string | null }>(
          "/nacos/v1/cs/configs",
          { query: { dataId: c.dataId, group: c.group, tenant: tenant(from), show: "all" } },
        );
        if (!overwrite) {
          const exists = await call("GET", "/nacos/v1/cs/configs", { query: { dataId: c.dataId, group: c.group, tenant: tenant(target) } }).then(
            () => true,
            (e) => (e instanceof ApiError && e.status === 404 ? false : Promise.reject(e)),
          );
          if (exists) {
            log.push(t("cloneSkipped", { name: `${c.group}/${c.dataId}` }));
            continue;
          }
        }
        await send("POST", "/nacos/v1/cs/configs", {
          form: {
            dataId: c.dataId,
            group: c.group,
            tenant: tenant(target),
            content: detail.content,
            type: detail.type,
            desc: detail.desc ?? "",
            appName: detail.appName,
            config_tags: detail.configTags ?? "",
          },
        });
        log.push(t("cloned", { name: `${c.group}/${c.dataId}` }));
      }
      setDone(log);
    });
  return (
    <Modal title={t("cloneTo")} onClose={onClose}>
      <p>{t("cloneCount", { n: items.length, from })}</p>
      {namespaces.length === 0 ? (
        <Empty>{t("noOtherNamespace")}</Empty>
      ) : (
        <>
          <label>
            {t("targetNamespace")}
            <select value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}>
              {namespaces.map((n) => (
                <option key={n}>{n}</option>
              ))}
            </select>
          </label>
          <label class="check">
            <input type="checkbox" checked={overwrite} onChange={(e) => setOverwrite((e.target as HTMLInputElement).checked)} />
            {t("overwriteExisting")}
          </label>
          <ErrorBox error={error} />
          <div class="buttons">
            <button class="primary" onClick={clone} disabled={busy || !target}>
              {t("clone")}
            </button>
          </div>
          {done.length > 0 && (
            <ul class="log">
              {done.map((d, i) => (
                <li key={i}>{d}</li>
              ))}
            </ul>
          )}
        </>
      )}
    </Modal>
  );
}

function ImportDialog({ ns, onClose }: { ns: string; onClose: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [policy, setPolicy] = useState("SKIP");
  const [result, setResult] = useState<{ successCount: number; skipCount: number; failCount: number; failData?: unknown } | null>(null);
  const [error, busy, run] = useAction();
  const upload = () =>
    run(async () => {
      if (!file) return;
      const form = new FormData();
      form.set("file", file);
      // The namespace and policy are query parameters, as the Nacos console sends them.
      setResult(data(await send("POST", "/nacos/v3/console/cs/config/import", { body: form, query: { namespaceId: ns, policy } })));
    });
  return (
    <Modal title={t("import")} onClose={onClose}>
      <label>
        {t("zipFile")}
        <input type="file" accept=".zip,application/zip" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} />
      </label>
      <fieldset>
        <legend>{t("whenExists")}</legend>
        {["SKIP", "OVERWRITE", "ABORT"].map((p) => (
          <label class="check" key={p}>
            <input type="radio" name="policy" checked={policy === p} onChange={() => setPolicy(p)} />
            {t(`policy${p}` as "policySKIP")}
          </label>
        ))}
      </fieldset>
      <ErrorBox error={error} />
      <div class="buttons">
        <button class="primary" onClick={upload} disabled={!file || busy}>
          {t("import")}
        </button>
      </div>
      {result && (
        <p role="status">
          {t("importResult", { ok: result.successCount, skipped: result.skipCount, failed: result.failCount })}
        </p>
      )}
    </Modal>
  );
}
