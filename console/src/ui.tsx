// Small shared pieces: data loading, errors as the API said them, diffs, tables, dialogs.

import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { diffLines, hunks, stat } from "./diff";
import { highlight } from "./glob";
import { t } from "./i18n";

export interface Async<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change; the latest call wins. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const id = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => id === latest.current && setState({ data, loading: false }),
      (error) => id === latest.current && setState({ error, loading: false }),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** `value`, once it has stopped changing for `ms` (search boxes ask the server per pause, not per key). */
export function useDebounced<T>(value: T, ms = 250): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

export function message(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <div class="error" role="alert">
      {message(error)}
    </div>
  );
}

export function Loading({ when }: { when: boolean }) {
  return when ? <div class="muted">{t("loading")}</div> : null;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

/** A unified diff: hunks with line numbers on both sides. */
export function DiffView({ before, after, context = 3, label }: { before: string; after: string; context?: number; label?: string }) {
  const ops = diffLines(before, after);
  const { added, removed } = stat(ops);
  const parts = hunks(ops, context);
  return (
    <div class="diff" aria-label={label ?? t("diff")}>
      <div class="diff-stat">
        <span class="add">+{added}</span> <span class="del">−{removed}</span>
      </div>
      {parts.length === 0 ? (
        <div class="muted">{t("noChanges")}</div>
      ) : (
        <table>
          <tbody>
            {parts.map((h, i) => [
              <tr key={`h${i}`} class="hunk">
                <td colSpan={3}>{`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`}</td>
              </tr>,
              ...h.ops.map((op, j) => (
                <tr key={`${i}-${j}`} class={op.kind}>
                  <td class="ln">{op.kind !== "add" ? op.a + 1 : ""}</td>
                  <td class="ln">{op.kind !== "del" ? op.b + 1 : ""}</td>
                  <td class="code">
                    <span class="sign">{op.kind === "add" ? "+" : op.kind === "del" ? "-" : " "}</span>
                    {op.text}
                  </td>
                </tr>
              )),
            ])}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function Highlighted({ pattern, text }: { pattern: string; text: string }) {
  return (
    <>
      {highlight(pattern.trim(), text).map((p, i) => (p.hit ? <mark key={i}>{p.text}</mark> : p.text))}
    </>
  );
}

export function Modal({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    addEventListener("keydown", onKey);
    ref.current?.querySelector<HTMLElement>("input,textarea,select,button")?.focus();
    return () => removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div class="modal-back" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div class="modal" role="dialog" aria-modal="true" aria-label={title} ref={ref}>
        <header>
          <h2>{title}</h2>
          <button class="link" onClick={onClose} aria-label={t("close")}>
            ✕
          </button>
        </header>
        {children}
      </div>
    </div>
  );
}

export function time(ms: number | string | null | undefined): string {
  if (ms === null || ms === undefined || ms === "") return "";
  const n = typeof ms === "string" && /^\d+$/.test(ms) ? Number(ms) : ms;
  const d = new Date(n);
  if (Number.isNaN(d.getTime())) return String(ms);
  const pad = (v: number) => String(v).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Runs an action, showing its error where the caller puts `error`. */
export function useAction(): [unknown, boolean, (f: () => Promise<unknown>) => Promise<boolean>, (e: unknown) => void] {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = useCallback(async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await f();
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return [error, busy, run, setError];
}
