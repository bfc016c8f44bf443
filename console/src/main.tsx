import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { getJson, onUnauthenticated, send, session, type ConsoleInfo, type Namespace } from "./api";
import { Ctx } from "./context";
import { getLang, setLang, t, type Lang } from "./i18n";
import { Access } from "./pages/access";
import { Cluster } from "./pages/cluster";
import { ConfigEdit } from "./pages/config-edit";
import { ConfigHistory, ConfigListeners } from "./pages/config-history";
import { Configs } from "./pages/configs";
import { EventDetail, Events } from "./pages/events";
import { Kv } from "./pages/kv";
import { Packages } from "./pages/packages";
import { ServiceDetailPage, Services } from "./pages/services";
import { Travel } from "./pages/travel";
import { href, useRoute } from "./router";
import "./style.css";
import { ErrorBox, Modal, useAction, useAsync } from "./ui";

const NAV: [string, Parameters<typeof t>[0]][] = [
  ["/configs", "configs"],
  ["/services", "services"],
  ["/kv", "kv"],
  ["/packages", "packages"],
  ["/events", "liveEvents"],
  ["/travel", "timeTravel"],
  ["/cluster", "cluster"],
  ["/access", "access"],
];

function theme(): "light" | "dark" {
  const saved = localStorage.getItem("nacre.theme");
  if (saved === "light" || saved === "dark") return saved;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function Login({ onDone }: { onDone: () => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, busy, run] = useAction();
  const login = () =>
    run(async () => {
      const r = await send<{ accessToken: string; username?: string }>("POST", "/nacos/v1/auth/login", { form: { username, password } });
      session.set(r.accessToken, r.username ?? username);
      onDone();
    });
  return (
    <main class="login">
      <form onSubmit={(e) => (e.preventDefault(), login())} aria-label={t("login")}>
        <h1>Nacre</h1>
        <label>
          {t("username")}
          <input name="username" autoComplete="username" value={username} onInput={(e) => setUsername((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("password")}
          <input name="password" type="password" autoComplete="current-password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        </label>
        <ErrorBox error={error} />
        <button class="primary" disabled={busy || !username || !password}>
          {t("login")}
        </button>
        <LangSwitch />
      </form>
    </main>
  );
}

function LangSwitch() {
  const [lang, set] = useState<Lang>(getLang());
  return (
    <select
      aria-label={t("language")}
      value={lang}
      onChange={(e) => {
        const next = (e.target as HTMLSelectElement).value as Lang;
        setLang(next);
        set(next);
        dispatchEvent(new Event("nacre-lang"));
      }}
    >
      <option value="en">English</option>
      <option value="zh">中文</option>
    </select>
  );
}

function ConsulTokenDialog({ onClose }: { onClose: () => void }) {
  const [token, setToken] = useState(session.consulToken);
  return (
    <Modal title={t("consulToken")} onClose={onClose}>
      <p class="muted small">{t("consulTokenHint")}</p>
      <label>
        {t("consulToken")}
        <input name="consulToken" type="password" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
      </label>
      <div class="buttons">
        <button class="primary" onClick={() => (session.setConsulToken(token.trim()), onClose(), location.reload())}>
          {t("save")}
        </button>
      </div>
    </Modal>
  );
}

function App() {
  const route = useRoute();
  const [, rerender] = useState(0);
  const [mode, setMode] = useState(theme());
  const [ns, setNsState] = useState(localStorage.getItem("nacre.ns") || "public");
  const [authed, setAuthed] = useState(Boolean(session.token));
  const [consulDialog, setConsulDialog] = useState(false);
  const info = useAsync(() => getJson<ConsoleInfo>("/nacre/v1/console"), []);
  const needsLogin = Boolean(info.data?.authEnabled) && !authed;
  const namespaces = useAsync(
    () => (info.data && !needsLogin ? getJson<{ data: Namespace[] }>("/nacos/v1/console/namespaces").then((r) => r.data.map((n) => ({ ...n, namespace: n.namespace || "public" }))) : Promise.resolve([])),
    [info.data, needsLogin],
  );

  useEffect(() => {
    document.documentElement.dataset.theme = mode;
    localStorage.setItem("nacre.theme", mode);
  }, [mode]);
  useEffect(() => {
    const on = () => rerender((n) => n + 1);
    addEventListener("nacre-lang", on);
    onUnauthenticated.handler = () => {
      session.clear();
      setAuthed(false);
    };
    return () => removeEventListener("nacre-lang", on);
  }, []);
  useEffect(() => {
    document.documentElement.lang = getLang() === "zh" ? "zh-CN" : "en";
  });

  if (info.error) return <ErrorBox error={info.error} />;
  if (!info.data) return null;
  if (needsLogin) return <Login onDone={() => setAuthed(true)} />;

  const setNs = (next: string) => {
    localStorage.setItem("nacre.ns", next);
    setNsState(next);
  };
  const list = namespaces.data ?? [];
  const { path, params } = route;
  let page;
  if (path === "/configs") page = <Configs />;
  else if (path === "/configs/edit") page = <ConfigEdit key={JSON.stringify(params)} params={params} />;
  else if (path === "/configs/history") page = <ConfigHistory params={params} />;
  else if (path === "/configs/listeners") page = <ConfigListeners params={params} />;
  else if (path === "/services") page = <Services />;
  else if (path === "/services/detail") page = <ServiceDetailPage params={params} />;
  else if (path === "/kv") page = <Kv params={params} />;
  else if (path === "/packages") page = <Packages />;
  else if (path === "/events") page = <Events />;
  else if (path.startsWith("/events/")) page = <EventDetail seq={path.slice("/events/".length)} />;
  else if (path === "/travel") page = <Travel key={JSON.stringify(params)} params={params} />;
  else if (path === "/cluster") page = <Cluster />;
  else if (path === "/access") page = <Access />;
  else page = <ErrorBox error={new Error(t("noSuchPage"))} />;

  return (
    <Ctx.Provider value={{ info: info.data, ns, setNs, namespaces: list, reloadNamespaces: namespaces.reload, user: session.user }}>
      <header class="top">
        <a class="brand" href={href("/configs")}>
          Nacre
        </a>
        <nav aria-label={t("mainNav")}>
          {NAV.map(([to, label]) => (
            <a key={to} href={href(to)} aria-current={path === to || path.startsWith(`${to}/`) ? "page" : undefined}>
              {t(label)}
            </a>
          ))}
        </nav>
        <span class="spacer" />
        <label class="ns">
          <span>{t("namespace")}</span>
          <select aria-label={t("namespace")} value={ns} onChange={(e) => setNs((e.target as HTMLSelectElement).value)}>
            {!list.some((n) => n.namespace === ns) && <option value={ns}>{ns}</option>}
            {list.map((n) => (
              <option key={n.namespace} value={n.namespace}>
                {n.namespaceShowName && n.namespaceShowName !== n.namespace ? `${n.namespaceShowName} (${n.namespace})` : n.namespace}
              </option>
            ))}
          </select>
        </label>
        <LangSwitch />
        <button class="icon" onClick={() => setMode(mode === "dark" ? "light" : "dark")} aria-label={t("toggleTheme")} title={t("toggleTheme")}>
          {mode === "dark" ? "☀" : "☾"}
        </button>
        {info.data.consul.enabled && (
          <button class="link" onClick={() => setConsulDialog(true)}>
            {session.consulToken ? t("consulTokenSet") : t("consulToken")}
          </button>
        )}
        {info.data.authEnabled && (
          <span class="user">
            {session.user}{" "}
            <button class="link" onClick={() => (session.clear(), setAuthed(false))}>
              {t("logout")}
            </button>
          </span>
        )}
      </header>
      <main>{page}</main>
      {consulDialog && <ConsulTokenDialog onClose={() => setConsulDialog(false)} />}
    </Ctx.Provider>
  );
}

render(<App />, document.getElementById("app")!);
