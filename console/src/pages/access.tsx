// Access: Nacos users, roles and permissions; Consul ACL policies and tokens.

import { useState } from "preact/hooks";
import { getJson, send, type Page } from "../api";
import { useApp } from "../context";
import { t } from "../i18n";
import { Empty, ErrorBox, Loading, useAction, useAsync } from "../ui";

export function Access() {
  const { info } = useApp();
  return (
    <section>
      <h1>{t("access")}</h1>
      {!info.authEnabled && <p class="warn">{t("authOff")}</p>}
      <Users />
      <Roles />
      <Permissions />
      {/* Consul answers "ACL support disabled" while access control is off. */}
      {info.consul.enabled && info.authEnabled && <ConsulAcl />}
    </section>
  );
}

function input(set: (v: string) => void) {
  return (e: Event) => set((e.target as HTMLInputElement).value);
}

function Users() {
  const users = useAsync(() => getJson<Page<{ username: string }>>("/nacos/v1/auth/users", { query: { pageNo: 1, pageSize: 500 } }), []);
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, busy, run] = useAction();
  const add = () =>
    run(async () => {
      await send("POST", "/nacos/v1/auth/users", { form: { username, password } });
      setUsername("");
      setPassword("");
      users.reload();
    });
  const remove = (u: string) =>
    confirm(t("confirmDelete", { name: u })) &&
    run(async () => {
      await send("DELETE", "/nacos/v1/auth/users", { query: { username: u } });
      users.reload();
    });
  const reset = (u: string) => {
    const next = prompt(t("newPasswordFor", { name: u }));
    if (next) run(() => send("PUT", "/nacos/v1/auth/users", { form: { username: u, newPassword: next } }));
  };
  return (
    <div class="panel">
      <h2>{t("users")}</h2>
      <ErrorBox error={users.error} />
      <ErrorBox error={error} />
      <Loading when={users.loading && !users.data} />
      {users.data && users.data.pageItems.length === 0 && <Empty>{t("noUsers")}</Empty>}
      <ul class="plain">
        {users.data?.pageItems.map((u) => (
          <li key={u.username}>
            {u.username}{" "}
            <button class="link" onClick={() => reset(u.username)}>
              {t("changePassword")}
            </button>
            <button class="link danger" onClick={() => remove(u.username)}>
              {t("delete")}
            </button>
          </li>
        ))}
      </ul>
      <form class="inline" onSubmit={(e) => (e.preventDefault(), add())}>
        <input aria-label={t("username")} placeholder={t("username")} value={username} onInput={input(setUsername)} />
        <input aria-label={t("password")} placeholder={t("password")} type="password" value={password} onInput={input(setPassword)} />
        <button disabled={busy || !username || !password}>{t("addUser")}</button>
      </form>
    </div>
  );
}

function Roles() {
  const roles = useAsync(() => getJson<Page<{ role: string; username: string }>>("/nacos/v1/auth/roles", { query: { pageNo: 1, pageSize: 500 } }), []);
  const [role, setRole] = useState("");
  const [username, setUsername] = useState("");
  const [error, busy, run] = useAction();
  const bind = () =>
    run(async () => {
      await send("POST", "/nacos/v1/auth/roles", { form: { role, username } });
      roles.reload();
    });
  const unbind = (r: { role: string; username: string }) =>
    run(async () => {
      await send("DELETE", "/nacos/v1/auth/roles", { query: r });
      roles.reload();
    });
  return (
    <div class="panel">
      <h2>{t("roles")}</h2>
      <ErrorBox error={roles.error} />
      <ErrorBox error={error} />
      {roles.data && roles.data.pageItems.length === 0 && <Empty>{t("noRoles")}</Empty>}
      <ul class="plain">
        {roles.data?.pageItems.map((r) => (
          <li key={r.role + r.username}>
            <b>{r.role}</b> → {r.username}{" "}
            <button class="link danger" onClick={() => unbind(r)}>
              {t("remove")}
            </button>
          </li>
        ))}
      </ul>
      <form class="inline" onSubmit={(e) => (e.preventDefault(), bind())}>
        <input aria-label={t("role")} placeholder={t("role")} value={role} onInput={input(setRole)} />
        <input aria-label={t("username")} placeholder={t("username")} value={username} onInput={input(setUsername)} />
        <button disabled={busy || !role || !username}>{t("bindRole")}</button>
      </form>
    </div>
  );
}

function Permissions() {
  const perms = useAsync(
    () => getJson<Page<{ role: string; resource: string; action: string }>>("/nacos/v1/auth/permissions", { query: { pageNo: 1, pageSize: 500 } }),
    [],
  );
  const [role, setRole] = useState("");
  const [resource, setResource] = useState("");
  const [action, setAction] = useState("r");
  const [error, busy, run] = useAction();
  const grant = () =>
    run(async () => {
      await send("POST", "/nacos/v1/auth/permissions", { form: { role, resource, action } });
      perms.reload();
    });
  const revoke = (p: { role: string; resource: string; action: string }) =>
    run(async () => {
      await send("DELETE", "/nacos/v1/auth/permissions", { query: p });
      perms.reload();
    });
  return (
    <div class="panel">
      <h2>{t("permissions")}</h2>
      <p class="muted small">{t("resourceHint")}</p>
      <ErrorBox error={perms.error} />
      <ErrorBox error={error} />
      {perms.data && perms.data.pageItems.length === 0 && <Empty>{t("noPermissions")}</Empty>}
      <ul class="plain">
        {perms.data?.pageItems.map((p) => (
          <li key={p.role + p.resource + p.action}>
            <b>{p.role}</b> <code>{p.resource}</code> {p.action}{" "}
            <button class="link danger" onClick={() => revoke(p)}>
              {t("revoke")}
            </button>
          </li>
        ))}
      </ul>
      <form class="inline" onSubmit={(e) => (e.preventDefault(), grant())}>
        <input aria-label={t("role")} placeholder={t("role")} value={role} onInput={input(setRole)} />
        <input aria-label={t("resource")} placeholder="dev:*:*" value={resource} onInput={input(setResource)} />
        <select aria-label={t("action")} value={action} onChange={(e) => setAction((e.target as HTMLSelectElement).value)}>
          <option value="r">r</option>
          <option value="w">w</option>
          <option value="rw">rw</option>
        </select>
        <button disabled={busy || !role || !resource}>{t("grant")}</button>
      </form>
    </div>
  );
}

interface Policy {
  ID: string;
  Name: string;
  Description: string;
  Rules?: string;
}

interface Token {
  AccessorID: string;
  Description: string;
  Policies: { ID: string; Name: string }[] | null;
}

function ConsulAcl() {
  const policies = useAsync(() => getJson<Policy[]>("/v1/acl/policies", { consul: true }), []);
  const tokens = useAsync(() => getJson<Token[]>("/v1/acl/tokens", { consul: true }), []);
  const [name, setName] = useState("");
  const [rules, setRules] = useState('key_prefix "" { policy = "read" }');
  const [description, setDescription] = useState("");
  const [tokenPolicy, setTokenPolicy] = useState("");
  const [secret, setSecret] = useState("");
  const [error, busy, run] = useAction();
  const addPolicy = () =>
    run(async () => {
      await send("PUT", "/v1/acl/policy", { consul: true, json: { Name: name, Rules: rules, Description: description } });
      setName("");
      policies.reload();
    });
  const addToken = () =>
    run(async () => {
      const made = await send<{ SecretID: string }>("PUT", "/v1/acl/token", {
        consul: true,
        json: { Description: description, Policies: tokenPolicy ? [{ ID: tokenPolicy }] : [] },
      });
      setSecret(made.SecretID);
      tokens.reload();
    });
  const del = (what: string, id: string, reload: () => void) =>
    confirm(t("confirmDelete", { name: id })) &&
    run(async () => {
      await send("DELETE", `/v1/acl/${what}/${encodeURIComponent(id)}`, { consul: true });
      reload();
    });
  return (
    <div class="panel">
      <h2>{t("consulAcl")}</h2>
      <p class="muted small">{t("consulTokenHint")}</p>
      <ErrorBox error={policies.error} />
      <ErrorBox error={error} />
      <h3>{t("policies")}</h3>
      <ul class="plain">
        {policies.data?.map((p) => (
          <li key={p.ID}>
            <b>{p.Name}</b> <span class="muted">{p.Description}</span>{" "}
            <button class="link danger" onClick={() => del("policy", p.ID, policies.reload)}>
              {t("delete")}
            </button>
          </li>
        ))}
      </ul>
      <form class="stack" onSubmit={(e) => (e.preventDefault(), addPolicy())}>
        <input aria-label={t("name")} placeholder={t("name")} value={name} onInput={input(setName)} />
        <textarea aria-label={t("rules")} class="mono" rows={4} value={rules} onInput={(e) => setRules((e.target as HTMLTextAreaElement).value)} />
        <button disabled={busy || !name}>{t("addPolicy")}</button>
      </form>
      <h3>{t("tokens")}</h3>
      <ErrorBox error={tokens.error} />
      <ul class="plain">
        {tokens.data?.map((tk) => (
          <li key={tk.AccessorID}>
            <span class="mono">{tk.AccessorID}</span> {tk.Description}{" "}
            <span class="muted">{(tk.Policies ?? []).map((p) => p.Name).join(", ")}</span>{" "}
            <button class="link danger" onClick={() => del("token", tk.AccessorID, tokens.reload)}>
              {t("delete")}
            </button>
          </li>
        ))}
      </ul>
      <form class="inline" onSubmit={(e) => (e.preventDefault(), addToken())}>
        <input aria-label={t("description")} placeholder={t("description")} value={description} onInput={input(setDescription)} />
        <select aria-label={t("policy")} value={tokenPolicy} onChange={(e) => setTokenPolicy((e.target as HTMLSelectElement).value)}>
          <option value="">—</option>
          {policies.data?.map((p) => (
            <option key={p.ID} value={p.ID}>
              {p.Name}
            </option>
          ))}
        </select>
        <button disabled={busy}>{t("addToken")}</button>
      </form>
      {secret && (
        <p role="status" class="ok">
          {t("secretOnce")} <code>{secret}</code>
        </p>
      )}
    </div>
  );
}
