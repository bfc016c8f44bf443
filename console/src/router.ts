// Hash routes (`#/configs?dataId=…`): the page works from `/` and from `/nacos/` with no server
// routes of its own, and every view has an address to share.

import { useEffect, useState } from "preact/hooks";

export interface Route {
  path: string;
  params: Record<string, string>;
}

export function parse(hash: string): Route {
  const raw = hash.replace(/^#/, "") || "/configs";
  const [path, query = ""] = raw.split("?");
  const params: Record<string, string> = {};
  new URLSearchParams(query).forEach((v, k) => {
    params[k] = v;
  });
  return { path: path || "/configs", params };
}

export function href(path: string, params: Record<string, string | number | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ""}`;
}

export function go(path: string, params: Record<string, string | number | undefined> = {}): void {
  location.hash = href(path, params);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const on = () => setRoute(parse(location.hash));
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}
