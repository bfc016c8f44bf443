// Packages (/nacre/v1/packages): list by os, object and version; upload with progress and a
// SHA-256 the server checks; download; delete.

import { useState } from "preact/hooks";
import { ApiError, describe, getJson, qs, send, session, type PackageInfo } from "../api";
import { t } from "../i18n";
import { sha256OfBlob } from "../sha256";
import { bytes, Empty, ErrorBox, Loading, Modal, time, useAction, useAsync } from "../ui";

function path(p: { os: string; object: string; version: string; name: string }): string {
  return [p.os, p.object, p.version, p.name].map(encodeURIComponent).join("/");
}

export function Packages() {
  const [os, setOs] = useState("");
  const [object, setObject] = useState("");
  const [version, setVersion] = useState("");
  const [uploading, setUploading] = useState(false);
  const [error, busy, run] = useAction();
  const list = useAsync(
    () =>
      getJson<{ count: number; packages: PackageInfo[] }>("/nacre/v1/packages", {
        query: { os: os.trim() || undefined, object: object.trim() || undefined, version: version.trim() || undefined },
      }),
    [os, object, version],
  );
  const remove = (p: PackageInfo) => {
    if (!confirm(t("confirmDelete", { name: p.key }))) return;
    run(async () => {
      await send("DELETE", `/nacre/v1/packages/${path(p)}`);
      list.reload();
    });
  };
  const download = (p: PackageInfo) =>
    `/nacre/v1/packages/${path(p)}${session.token ? qs({ accessToken: session.token }) : ""}`;
  const items = list.data?.packages ?? [];
  return (
    <section>
      <div class="toolbar">
        <h1>{t("packages")}</h1>
        <button class="primary" onClick={() => setUploading(true)}>
          {t("upload")}
        </button>
      </div>
      <form class="search" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          {t("os")}
          <input name="os" value={os} onInput={(e) => setOs((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("object")}
          <input name="object" value={object} onInput={(e) => setObject((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("version")}
          <input name="version" value={version} onInput={(e) => setVersion((e.target as HTMLInputElement).value)} />
        </label>
      </form>
      <ErrorBox error={list.error} />
      <ErrorBox error={error} />
      <Loading when={list.loading && !list.data} />
      {list.data && items.length === 0 && <Empty>{t("noPackages")}</Empty>}
      {items.length > 0 && (
        <table class="list" aria-label={t("packages")}>
          <thead>
            <tr>
              <th>{t("os")}</th>
              <th>{t("object")}</th>
              <th>{t("version")}</th>
              <th>{t("name")}</th>
              <th>{t("type")}</th>
              <th>{t("size")}</th>
              <th>SHA-256</th>
              <th>{t("uploaded")}</th>
              <th>{t("actions")}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((p) => (
              <tr key={p.key}>
                <td>{p.os}</td>
                <td>{p.object}</td>
                <td>{p.version}</td>
                <td>{p.name}</td>
                <td>{p.type}</td>
                <td>{bytes(p.size)}</td>
                <td class="mono small" title={p.sha256}>
                  {p.sha256.slice(0, 12)}…
                </td>
                <td>
                  {time(p.uploadedAt ?? "")} {p.uploader}
                </td>
                <td class="actions">
                  <a href={download(p)} download={p.name}>
                    {t("download")}
                  </a>
                  <button class="link danger" disabled={busy} onClick={() => remove(p)}>
                    {t("delete")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {uploading && <UploadDialog onClose={() => setUploading(false)} onDone={() => (setUploading(false), list.reload())} />}
    </section>
  );
}

function UploadDialog({ onClose, onDone }: { onClose: () => void; onDone: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [os, setOs] = useState("linux");
  const [object, setObject] = useState("");
  const [version, setVersion] = useState("");
  const [kind, setKind] = useState("collector");
  const [description, setDescription] = useState("");
  const [overwrite, setOverwrite] = useState(false);
  const [phase, setPhase] = useState("");
  const [progress, setProgress] = useState(0);
  const [digest, setDigest] = useState("");
  const [error, busy, run] = useAction();
  const upload = () =>
    run(async () => {
      if (!file) return;
      setPhase(t("hashing"));
      const sha = await sha256OfBlob(file, setProgress);
      setDigest(sha);
      setPhase(t("uploading"));
      setProgress(0);
      const url =
        `/nacre/v1/packages/${path({ os: os.trim(), object: object.trim(), version: version.trim(), name: file.name })}` +
        qs({ type: kind, description: description || undefined, overwrite: overwrite ? "true" : undefined });
      // XMLHttpRequest: fetch reports no upload progress.
      await new Promise<void>((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open("PUT", url);
        xhr.setRequestHeader("X-Checksum-Sha256", sha);
        xhr.setRequestHeader("Content-Type", "application/octet-stream");
        if (session.token) xhr.setRequestHeader("Authorization", `Bearer ${session.token}`);
        xhr.upload.onprogress = (e) => e.lengthComputable && setProgress(e.loaded / e.total);
        xhr.onload = () => (xhr.status < 300 ? resolve() : reject(new ApiError(xhr.status, describe(xhr.responseText))));
        xhr.onerror = () => reject(new Error(t("networkError")));
        xhr.send(file);
      });
      setPhase(t("uploaded"));
      onDone();
    });
  return (
    <Modal title={t("upload")} onClose={onClose}>
      <label>
        {t("file")}
        <input type="file" name="file" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} />
      </label>
      <div class="form-grid">
        <label>
          {t("os")}
          <input name="os" value={os} onInput={(e) => setOs((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("object")}
          <input name="object" value={object} onInput={(e) => setObject((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("version")}
          <input name="version" value={version} onInput={(e) => setVersion((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("type")}
          <select name="kind" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
            <option value="collector">collector</option>
            <option value="controller">controller</option>
          </select>
        </label>
      </div>
      <label>
        {t("description")}
        <input name="description" value={description} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} />
      </label>
      <label class="check">
        <input type="checkbox" checked={overwrite} onChange={(e) => setOverwrite((e.target as HTMLInputElement).checked)} />
        {t("overwriteExisting")}
      </label>
      {phase && (
        <div role="status">
          {phase} <progress value={progress} max={1} /> {Math.round(progress * 100)}%
          {digest && <div class="mono small">SHA-256 {digest}</div>}
        </div>
      )}
      <ErrorBox error={error} />
      <div class="buttons">
        <button class="primary" disabled={busy || !file || !object.trim() || !version.trim()} onClick={upload}>
          {t("upload")}
        </button>
      </div>
    </Modal>
  );
}
