import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { ConsoleInfo, Namespace } from "./api";

export interface AppContext {
  info: ConsoleInfo;
  /** The namespace every page works in (`public` by default). */
  ns: string;
  setNs: (ns: string) => void;
  namespaces: Namespace[];
  reloadNamespaces: () => void;
  user: string;
}

export const Ctx = createContext<AppContext>(null as unknown as AppContext);

export function useApp(): AppContext {
  return useContext(Ctx);
}
