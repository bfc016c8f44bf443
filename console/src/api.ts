// Nacre's public HTTP APIs, as the console calls them: the Nacos open API, the package API, the
// console's read endpoints, and the Consul API mounted at /nacre/v1/consul. An error is thrown
// with the server's own words, which the pages show as they are.

export class ApiError extends Error {
  constructor(
    public status: number,
    public body: string,
  ) {
    super(body.trim() || `HTTP ${status}`);
  }
}

const TOKEN = "nacre.token";
const USER = "nacre.user";
const CONSUL_TOKEN = "nacre.consulToken";

export const session = {
  get token(): string {
    return localStorage.getItem(TOKEN) ?? "";
  },
  get user(): string {
    return localStorage.getItem(USER) ?? "";
  },
  get consulToken(): string {
    return localStorage.getItem(CONSUL_TOKEN) ?? "";
  },
  set(token: string, user: string) {
    localStorage.setItem(TOKEN, token);
    localStorage.setItem(USER, user);
  },
  setConsulToken(token: string) {
    if (token) localStorage.setItem(CONSUL_TOKEN, token);
    else localStorage.removeItem(CONSUL_TOKEN);
  },
  clear() {
    localStorage.removeItem(TOKEN);
    localStorage.removeItem(USER);
  },
};

/** Called when the server says the token is missing, expired or invalid. */
export const onUnauthenticated: { handler: () => void } = { handler: () => {} };

export type Query = Record<string, string | number | boolean | undefined | null>;

export function qs(query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null) params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : "";
}

/** The API base: the page is served from `/` or `/nacos/`, the APIs from the root. */
export const base = "";

export interface CallOptions {
  query?: Query;
  form?: Query;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  /** A call to the Consul mount: sends the Consul token, not the Nacos one. */
  consul?: boolean;
}

export async function call(method: string, path: string, o: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.consul) {
    if (session.consulToken) headers["X-Consul-Token"] = session.consulToken;
  } else if (session.token) {
    headers.Authorization = `Bearer ${session.token}`;
  }
  let body: BodyInit | undefined = o.body;
  if (o.form) {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(o.form)) if (v !== undefined && v !== null) form.set(k, String(v));
    body = form;
  } else if (o.json !== undefined) {
    body = JSON.stringify(o.json);
    headers["Content-Type"] = "application/json";
  }
  const url = (o.consul ? "/nacre/v1/consul" : "") + path + qs(o.query);
  const response = await fetch(base + url, { method, headers, body });
  if (!response.ok) {
    const text = await response.text();
    if (response.status === 403 && !o.consul && /token (expired|invalid)|user not found/.test(text)) {
      onUnauthenticated.handler();
    }
    throw new ApiError(response.status, describe(text));
  }
  return response;
}

/** The message of an error body: a JSON error's message, else the text as it came. */
export function describe(text: string): string {
  try {
    const v = JSON.parse(text);
    if (v && typeof v === "object") {
      const msg = v.message ?? v.error;
      const data = typeof v.data === "string" && v.data !== msg ? ` (${v.data})` : "";
      if (typeof msg === "string") return msg + data;
    }
  } catch {
    // not JSON: shown as is
  }
  return text;
}

export async function getJson<T>(path: string, o: CallOptions = {}): Promise<T> {
  const r = await call("GET", path, o);
  const text = await r.text();
  return (text ? JSON.parse(text) : null) as T;
}

export async function send<T = unknown>(method: string, path: string, o: CallOptions = {}): Promise<T> {
  const r = await call(method, path, o);
  const text = await r.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    return text as unknown as T;
  }
}

/** Unwraps Nacos' v2/v3 `{code, message, data}` result. */
export function data<T>(v: unknown): T {
  if (v && typeof v === "object" && "data" in v && "code" in v) return (v as { data: T }).data;
  return v as T;
}

// ---- shapes ----

export interface ConsoleInfo {
  version: string;
  node: string;
  authEnabled: boolean;
  consul: { enabled: boolean; port: number; mount: string };
  tracing: boolean;
  maxContentBytes: number;
}

export interface Namespace {
  namespace: string;
  namespaceShowName: string;
  namespaceDesc?: string;
  configCount: number;
  quota: number;
  type: number;
}

export interface ConfigItem {
  id: string;
  dataId: string;
  group: string;
  content: string;
  md5: string;
  tenant: string;
  appName: string;
  type: string;
}

export interface ConfigDetail extends ConfigItem {
  desc: string | null;
  configTags: string | null;
  createTime: number;
  modifyTime: number;
  createUser: string;
  createIp: string;
}

export interface Page<T> {
  totalCount: number;
  pageNumber: number;
  pagesAvailable: number;
  pageItems: T[];
}

export interface HistoryItem {
  id: string;
  dataId: string;
  group: string;
  content: string;
  md5: string;
  srcIp: string;
  srcUser: string;
  opType: string;
  createdTime: string;
  lastModifiedTime: string;
}

export interface ServiceRow {
  name: string;
  groupName: string;
  clusterCount: number;
  ipCount: number;
  healthyInstanceCount: number;
  protectThreshold: number;
  consul: boolean;
}

export interface Instance {
  instanceId: string;
  ip: string;
  port: number;
  weight: number;
  healthy: boolean;
  enabled: boolean;
  ephemeral: boolean;
  clusterName: string;
  serviceName: string;
  metadata: Record<string, string>;
}

export interface ServiceDetail {
  namespaceId: string;
  groupName: string;
  name: string;
  protectThreshold: number;
  metadata: Record<string, string>;
  selector: unknown;
  clusters: { name: string }[];
}

export interface EventView {
  seq: number;
  time: number;
  type: string;
  kind: string;
  namespace: string;
  group: string;
  name: string;
  keys?: string[];
  actor: { user: string; ip: string };
  traceId: string | null;
}

export interface ListenerInfo {
  ip: string;
  md5: string;
  protocol: string;
  app: string;
  node: string;
}

export interface KvEntry {
  Key: string;
  Value: string | null;
  Flags: number;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Session?: string;
}

export interface PackageInfo {
  key: string;
  os: string;
  object: string;
  version: string;
  name: string;
  type: string;
  size: number;
  sha256: string;
  description: string;
  uploader: string;
  uploadedAt: string | null;
}

/** Namespace ids as the APIs take them: `public` is sent as "". */
export function tenant(ns: string): string {
  return ns === "public" ? "" : ns;
}

/** Base64 of UTF-8 text and back (Consul KV values). */
export function toBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export function fromBase64(b64: string | null): string {
  if (!b64) return "";
  const s = atob(b64);
  const bytes = Uint8Array.from(s, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}
