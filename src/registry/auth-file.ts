import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { CairnError } from "../errors/index.js";
import { DEFAULT_DOMAIN } from "../reference/index.js";

/** One entry of `auths` in a docker `config.json` or a containers `auth.json`. */
export interface AuthEntry {
  /** base64 of `username:password`. */
  auth?: string;
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (docker's name for it). */
  identitytoken?: string;
  /** A bearer token sent to the registry as is. */
  registrytoken?: string;
  email?: string;
  [extra: string]: unknown;
}

/** The parts of a docker `config.json` / containers `auth.json` that hold credentials. */
export interface AuthFile {
  auths?: Record<string, AuthEntry>;
  /** Registry host -> credential helper name (`docker-credential-NAME`). */
  credHelpers?: Record<string, string>;
  /** The credential helper for every registry not in `credHelpers`. */
  credsStore?: string;
  [extra: string]: unknown;
}

/** The key docker uses for Docker Hub in `auths` and with credential helpers. */
export const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";

const HUB_ALIASES: ReadonlySet<string> = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/**
 * What an `auths` key names, normalized: URL keys (`https://host/v1/`) become their host, as
 * docker reads them; Docker Hub's aliases become `docker.io`; path keys (`quay.io/org`, as
 * podman writes them) keep their path.
 *
 * @example
 * ```ts
 * normalizeAuthKey("https://index.docker.io/v1/") // "docker.io"
 * normalizeAuthKey("quay.io/org/app") // "quay.io/org/app"
 * ```
 */
export function normalizeAuthKey(key: string): string {
  let k = key.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(k);
  if (scheme) {
    k = k.slice(scheme[0].length);
    const slash = k.indexOf("/");
    if (slash >= 0) k = k.slice(0, slash);
  }
  k = k.replace(/\/+$/, "");
  const slash = k.indexOf("/");
  const host = (slash < 0 ? k : k.slice(0, slash)).toLowerCase();
  const rest = slash < 0 ? "" : k.slice(slash);
  return (HUB_ALIASES.has(host) ? DEFAULT_DOMAIN : host) + rest;
}

/**
 * The keys that may hold credentials for a repository, most specific first:
 * `host/a/b`, `host/a`, `host`.
 *
 * @example
 * ```ts
 * authKeyCandidates("quay.io", "org/app") // ["quay.io/org/app", "quay.io/org", "quay.io"]
 * ```
 */
export function authKeyCandidates(registry: string, repository?: string): string[] {
  const host = normalizeAuthKey(registry);
  const out: string[] = [];
  if (repository) {
    const parts = repository.split("/");
    for (let n = parts.length; n > 0; n--) out.push(`${host}/${parts.slice(0, n).join("/")}`);
  }
  out.push(host);
  return out;
}

/**
 * Finds the entry of a map keyed by registry (`auths`, `credHelpers`) that applies to a
 * repository, trying the most specific key first.
 *
 * @example
 * ```ts
 * findKeyed({ "https://index.docker.io/v1/": "x" }, "docker.io") // { key: "https://index.docker.io/v1/", value: "x" }
 * ```
 */
export function findKeyed<T>(
  map: Record<string, T> | undefined,
  registry: string,
  repository?: string,
): { key: string; value: T } | undefined {
  if (!map || typeof map !== "object") return undefined;
  const byNormal = new Map<string, string>();
  for (const key of Object.keys(map)) {
    const n = normalizeAuthKey(key);
    if (!byNormal.has(n)) byNormal.set(n, key);
  }
  for (const candidate of authKeyCandidates(registry, repository)) {
    const key = byNormal.get(candidate);
    if (key !== undefined) return { key, value: map[key] as T };
  }
  return undefined;
}

/**
 * The key {@link saveAuthEntry} writes for a registry: docker's legacy URL for Docker Hub, the
 * host otherwise.
 *
 * @example
 * ```ts
 * authKeyFor("docker.io") // "https://index.docker.io/v1/"
 * ```
 */
export function authKeyFor(registry: string): string {
  const host = normalizeAuthKey(registry);
  return host === DEFAULT_DOMAIN ? DOCKER_HUB_AUTH_KEY : host;
}

/**
 * Reads an auth file; undefined when it does not exist.
 *
 * @example
 * ```ts
 * const file = await readAuthFile(path.join(os.homedir(), ".docker/config.json"))
 * ```
 * @throws CairnError `E_AUTH` when the file is not a JSON object
 */
export async function readAuthFile(file: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new CairnError("E_IO", `cannot read the auth file ${file}: ${(err as Error).message}`, {
      path: file,
      cause: err,
    });
  }
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CairnError("E_AUTH", `the auth file ${file} is not valid JSON: ${(err as Error).message}`, {
      path: file,
      cause: err,
    });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CairnError("E_AUTH", `the auth file ${file} should hold a JSON object`, { path: file });
  }
  return value as AuthFile;
}

/**
 * Writes an auth file as docker does (tab-indented JSON), atomically and readable only by the
 * owner (mode 0600, directory 0700 when created).
 *
 * @example
 * ```ts
 * await writeAuthFile(file, { auths: { "localhost:5000": { auth: "dTpw" } } })
 * ```
 */
export async function writeAuthFile(file: string, content: AuthFile): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, `${JSON.stringify(content, null, "\t")}\n`, { mode: 0o600, flag: "wx" });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new CairnError("E_IO", `cannot write the auth file ${file}: ${(err as Error).message}`, {
      path: file,
      cause: err,
    });
  }
}
