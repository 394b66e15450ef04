import { homedir } from "node:os";
import path from "node:path";
import { OciLayout, type OpenLayoutOptions } from "./layout.js";

/** The environment variables {@link defaultStoreDir} reads. */
export interface StoreEnv {
  CAIRN_HOME?: string;
  XDG_CACHE_HOME?: string;
  HOME?: string;
}

/**
 * The directory of the default store: `CAIRN_HOME`, else `$XDG_CACHE_HOME/cairn`, else
 * `~/.cache/cairn`. A relative `XDG_CACHE_HOME` is ignored, as the XDG spec says.
 *
 * @example
 * ```ts
 * defaultStoreDir({ XDG_CACHE_HOME: "/tmp/cache" }) // "/tmp/cache/cairn"
 * ```
 */
export function defaultStoreDir(env: StoreEnv = process.env): string {
  if (env.CAIRN_HOME) return path.resolve(env.CAIRN_HOME);
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, "cairn");
  return path.join(env.HOME || homedir(), ".cache", "cairn");
}

/**
 * Opens the default store ({@link defaultStoreDir}), creating it when missing.
 *
 * @example
 * ```ts
 * const store = await openDefaultStore();
 * console.log(await store.tags());
 * ```
 * @throws CairnError `E_LAYOUT_INVALID` when the directory exists but is not a layout
 */
export function openDefaultStore(
  options: Omit<OpenLayoutOptions, "create"> & { env?: StoreEnv } = {},
): Promise<OciLayout> {
  const { env, ...rest } = options;
  return OciLayout.open(defaultStoreDir(env), { ...rest, create: true });
}
