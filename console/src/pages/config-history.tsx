// A config's history: every change with its operator and address, the diff of each change
// against the version before it, rollback (undo that change), and who listens to the config.

import { useState } from "preact/hooks";
import { getJson, send, tenant, type HistoryItem, type ListenerInfo, type Page } from "../api";
import { useApp } from "../context";
import { changeOf } from "../diff";
import { t } from "../i18n";
import { href } from "../router";
import { DiffView, Empty, ErrorBox, Loading, time, useAction, useAsync } from "../ui";

function opName(op: string): string {
  switch (op.trim()) {
    case "I":
      return t("opInsert");
    case "D":
      return t("opDelete");
    default:
      return t("opUpdate");
  }
}

export function ConfigHistory({ params }: { params: Record<string, string> }) {
  const app = useApp();
  const ns = params.ns || app.ns;
  const { group, dataId } = params;
  const [open, setOpen] = useState<string | null>(null);
  const [error, busy, run] = useAction();
  const [done, setDone] = useState("");
  const history = useAsync(async () => {
    const rows = await getJson<Page<HistoryItem>>("/nacos/v1/cs/history", {
      query: { search: "accurate", dataId, group, tenant: tenant(ns), pageNo: 1, pageSize: 500 },
    });
    return { rows: rows.pageItems, total: rows.totalCount };
  }, [ns, group, dataId]);

  const rollback = (row: HistoryItem) => {
    if (!confirm(t("confirmRollback", { id: row.id }))) return;
    run(async () => {
      await send("POST", "/nacos/v1/cs/history/rollback", { form: { nid: row.id } });
      setDone(t("rolledBack", { id: row.id }));
      history.reload();
    });
  };

  return (
    <section>
      <div class="toolbar">
        <h1>
          {t("history")}: {group} / {dataId}
        </h1>
        <span class="badge">{ns}</span>
        <a href={href("/configs/edit", { ns, group, dataId })}>{t("edit")}</a>
        <a href={href("/travel", { kind: "config", ns, group, dataId })}>{t("timeTravel")}</a>
      </div>
      <ErrorBox error={history.error} />
      <ErrorBox error={error} />
      {done && (
        <p role="status" class="ok">
          {done}
        </p>
      )}
      <Loading when={history.loading && !history.data} />
      {history.data && history.data.rows.length === 0 && <Empty>{t("noHistory")}</Empty>}
      {history.data && history.data.rows.length > 0 && (
        <table class="list" aria-label={t("history")}>
          <thead>
            <tr>
              <th>{t("seq")}</th>
              <th>{t("time")}</th>
              <th>{t("operation")}</th>
              <th>{t("operator")}</th>
              <th>{t("address")}</th>
              <th>{t("actions")}</th>
            </tr>
          </thead>
          <tbody>
            {history.data.rows.map((row, i) => {
              return [
                <tr key={row.id}>
                  <td>
                    <a href={href(`/events/${row.id}`)}>{row.id}</a>
                  </td>
                  <td>{time(row.lastModifiedTime)}</td>
                  <td>{opName(row.opType)}</td>
                  <td>{row.srcUser || t("anonymous")}</td>
                  <td>{row.srcIp}</td>
                  <td class="actions">
                    <button class="link" aria-expanded={open === row.id} onClick={() => setOpen(open === row.id ? null : row.id)}>
                      {open === row.id ? t("hideDiff") : t("showDiff")}
                    </button>
                    <button class="link" disabled={busy} onClick={() => rollback(row)}>
                      {t("rollback")}
                    </button>
                  </td>
                </tr>,
                open === row.id && (
                  <tr key={`${row.id}-diff`}>
                    <td colSpan={6}>
                      <RowDiff rows={history.data!.rows} index={i} ns={ns} group={group} dataId={dataId} />
                    </td>
                  </tr>
                ),
              ];
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The diff of one change: the list has no contents, so the row and its newer neighbour are read. */
function RowDiff({ rows, index, ns, group, dataId }: { rows: HistoryItem[]; index: number; ns: string; group: string; dataId: string }) {
  const diff = useAsync(async () => {
    const detail = (id: string) => getJson<HistoryItem>("/nacos/v1/cs/history", { query: { nid: id, dataId, group, tenant: tenant(ns) } });
    const row = await detail(rows[index].id);
    const newer = index > 0 ? await detail(rows[index - 1].id) : null;
    const current = newer
      ? ""
      : ((await getJson<{ content: string } | null>("/nacos/v1/cs/configs", { query: { dataId, group, tenant: tenant(ns), show: "all" } }))?.content ?? "");
    return newer ? changeOf([newer, row], 1, current) : changeOf([row], 0, current);
  }, [rows[index].id]);
  return (
    <>
      <ErrorBox error={diff.error} />
      <Loading when={diff.loading} />
      {diff.data && <DiffView before={diff.data.before} after={diff.data.after} label={t("changeDiff", { id: rows[index].id })} />}
    </>
  );
}

export function ConfigListeners({ params }: { params: Record<string, string> }) {
  const app = useApp();
  const ns = params.ns || app.ns;
  const { group, dataId } = params;
  const listeners = useAsync(
    () =>
      getJson<{ complete: boolean; listeners: ListenerInfo[] }>("/nacre/v1/configs/listeners", {
        query: { namespaceId: ns, group, dataId },
      }),
    [ns, group, dataId],
  );
  return (
    <section>
      <div class="toolbar">
        <h1>
          {t("listeners")}: {group} / {dataId}
        </h1>
        <span class="badge">{ns}</span>
        <button onClick={listeners.reload}>{t("refresh")}</button>
      </div>
      <ErrorBox error={listeners.error} />
      <Loading when={listeners.loading && !listeners.data} />
      {listeners.data && !listeners.data.complete && <p class="warn">{t("partialAnswer")}</p>}
      {listeners.data && listeners.data.listeners.length === 0 && <Empty>{t("noListeners")}</Empty>}
      {listeners.data && listeners.data.listeners.length > 0 && (
        <table class="list" aria-label={t("listeners")}>
          <thead>
            <tr>
              <th>{t("address")}</th>
              <th>{t("protocol")}</th>
              <th>md5</th>
              <th>{t("app")}</th>
              <th>{t("node")}</th>
            </tr>
          </thead>
          <tbody>
            {listeners.data.listeners.map((l, i) => (
              <tr key={i}>
                <td>{l.ip}</td>
                <td>{l.protocol === "grpc" ? "gRPC" : t("longPolling")}</td>
                <td class="mono">{l.md5}</td>
                <td>{l.app}</td>
                <td>{l.node}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
