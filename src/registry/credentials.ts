import os from "node:os";
import path from "node:path";
import { CairnError } from "../errors/index.js";
import {
  type AuthEntry,
  type AuthFile,
  authKeyFor,
  findKeyed,
  normalizeAuthKey,
  readAuthFile,
  writeAuthFile,
} from "./auth-file.js";
import { helperErase, helperGet, helperStore } from "./cred-helper.js";

/** Credentials for one registry. */
export type Credentials =
  /** A user name and password (or a personal access token used as one). */
  | { username: string; password: string }
  /** An OAuth2 refresh token (docker's `identitytoken`), exchanged for access tokens. */
  | { username?: string; identityToken: string }
  /** A bearer token sent to the registry as is. */
  | { registryToken: string };

/** Where credentials are looked up and saved. */
export interface CredentialStoreOptions {
  /** The environment to read `DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `HOME` from. */
  env?: NodeJS.ProcessEnv;
  /** Read and write only this file (a docker `config.json` or a containers `auth.json`). */
  authFile?: string;
}

/** The username credential helpers use to say the secret is an identity token. */
const TOKEN_USERNAME = "<token>";

function homeDir(env: NodeJS.ProcessEnv): string {
  return env["HOME"] || os.homedir();
}

/**
 * Docker's `config.json`: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
 *
 * @example
 * ```ts
 * dockerConfigFile({ DOCKER_CONFIG: "/tmp/d" }) // "/tmp/d/config.json"
 * ```
 */
export function dockerConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env["DOCKER_CONFIG"] || path.join(homeDir(env), ".docker");
  return path.join(dir, "config.json");
}

/**
 * The auth files read for credentials, in order, as containers/image reads them:
 * `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
 * `~/.config/containers/auth.json`, then docker's `config.json`.
 *
 * @example
 * ```ts
 * authFiles({ HOME: "/home/me" }).at(-1) // "/home/me/.docker/config.json"
 * ```
 */
export function authFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const files: string[] = [];
  if (env["REGISTRY_AUTH_FILE"]) files.push(env["REGISTRY_AUTH_FILE"]);
  if (env["XDG_RUNTIME_DIR"]) files.push(path.join(env["XDG_RUNTIME_DIR"], "containers", "auth.json"));
  const configHome = env["XDG_CONFIG_HOME"] || path.join(homeDir(env), ".config");
  files.push(path.join(configHome, "containers", "auth.json"));
  files.push(dockerConfigFile(env));
  return [...new Set(files)];
}

/**
 * The credentials an `auths` entry holds; undefined for an empty entry.
 *
 * @example
 * ```ts
 * decodeAuthEntry({ auth: Buffer.from("me:secret").toString("base64") }) // { username: "me", password: "secret" }
 * ```
 * @throws CairnError `E_AUTH` for an `auth` field that is not base64 of `user:password`
 */
export function decodeAuthEntry(entry: AuthEntry, where = "auth entry"): Credentials | undefined {
  if (typeof entry !== "object" || entry === null) return undefined;
  let username = typeof entry.username === "string" ? entry.username : "";
  let password = typeof entry.password === "string" ? entry.password : "";
  if (typeof entry.auth === "string" && entry.auth !== "") {
    const text = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = text.indexOf(":");
    if (colon < 0 || !/^[A-Za-z0-9+/=\s]+$/.test(entry.auth)) {
      throw new CairnError("E_AUTH", `${where}: "auth" should be base64 of "username:password"`);
    }
    username = text.slice(0, colon);
    password = text.slice(colon + 1);
  }
  if (typeof entry.registrytoken === "string" && entry.registrytoken !== "") {
    return { registryToken: entry.registrytoken };
  }
  if (typeof entry.identitytoken === "string" && entry.identitytoken !== "") {
    return username
      ? { username, identityToken: entry.identitytoken }
      : { identityToken: entry.identitytoken };
  }
  if (username === "" && password === "") return undefined;
  return { username, password };
}

function serverUrlFor(registry: string): string {
  return authKeyFor(registry);
}

async function fromHelper(
  helper: string,
  registry: string,
  env: NodeJS.ProcessEnv,
): Promise<Credentials | undefined> {
  const got = await helperGet(helper, serverUrlFor(registry), { env });
  if (!got) return undefined;
  if (got.Username === TOKEN_USERNAME) return { identityToken: got.Secret };
  return { username: got.Username, password: got.Secret };
}

async function fromFile(
  file: AuthFile,
  where: string,
  registry: string,
  repository: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<Credentials | undefined> {
  const helper = findKeyed(file.credHelpers, registry, repository)?.value ?? file.credsStore;
  if (typeof helper === "string" && helper !== "") {
    const got = await fromHelper(helper, registry, env);
    if (got) return got;
  }
  const found = findKeyed(file.auths, registry, repository);
  return found ? decodeAuthEntry(found.value, `${where}: auths["${found.key}"]`) : undefined;
}

/**
 * Finds credentials for a registry (and optionally a repository, for auth files keyed by
 * namespace) as docker and podman do: in each file of {@link authFiles}, a `credHelpers` entry
 * first, then `credsStore`, then `auths`. Undefined when none applies.
 *
 * @example
 * ```ts
 * const creds = await findCredentials("ghcr.io", { repository: "acme/app" })
 * ```
 * @throws CairnError `E_AUTH` when a file is malformed or a configured helper fails
 */
export async function findCredentials(
  registry: string,
  options: CredentialStoreOptions & { repository?: string } = {},
): Promise<Credentials | undefined> {
  const env = options.env ?? process.env;
  const files = options.authFile ? [options.authFile] : authFiles(env);
  for (const f of files) {
    const file = await readAuthFile(f);
    if (!file) continue;
    const found = await fromFile(file, f, registry, options.repository, env);
    if (found) return found;
  }
  return undefined;
}

/** Where {@link saveLogin} put the credentials. */
export interface SavedLogin {
  /** The auth file written. */
  file: string;
  /** The key of the `auths` entry. */
  key: string;
  /** The credential helper that holds the secret, if one is configured. */
  helper?: string;
}

/**
 * Saves credentials as `docker login` does: into the configured credential helper
 * (`credHelpers`, then `credsStore`) with an empty `auths` entry, else into `auths` as base64
 * `auth` (plus `identitytoken` for a refresh token). The file is docker's `config.json` unless
 * `authFile` says otherwise; other settings in it are kept.
 *
 * @example
 * ```ts
 * await saveLogin("localhost:5000", { username: "me", password: "secret" })
 * ```
 */
export async function saveLogin(
  registry: string,
  credentials: Credentials,
  options: CredentialStoreOptions = {},
): Promise<SavedLogin> {
  const env = options.env ?? process.env;
  const file = options.authFile ?? dockerConfigFile(env);
  const content: AuthFile = (await readAuthFile(file)) ?? {};
  const key = authKeyFor(registry);
  const auths: Record<string, AuthEntry> = { ...(content.auths ?? {}) };
  for (const k of Object.keys(auths))
    if (k !== key && normalizeAuthKey(k) === normalizeAuthKey(key)) delete auths[k];
  const helper = findKeyed(content.credHelpers, registry)?.value ?? content.credsStore;
  if ("registryToken" in credentials) {
    auths[key] = { registrytoken: credentials.registryToken };
  } else if (typeof helper === "string" && helper !== "") {
    const identity = "identityToken" in credentials;
    await helperStore(
      helper,
      serverUrlFor(registry),
      identity
        ? { Username: TOKEN_USERNAME, Secret: credentials.identityToken }
        : { Username: credentials.username, Secret: credentials.password },
      { env },
    );
    auths[key] = {};
  } else if ("identityToken" in credentials) {
    const user = credentials.username ?? "";
    auths[key] = {
      ...(user ? { auth: Buffer.from(`${user}:`).toString("base64") } : {}),
      identitytoken: credentials.identityToken,
    };
  } else {
    auths[key] = { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64") };
  }
  await writeAuthFile(file, { ...content, auths });
  return {
    file,
    key,
    ...(typeof helper === "string" && helper !== "" && !("registryToken" in credentials) ? { helper } : {}),
  };
}

/**
 * Removes a registry's saved credentials (from its credential helper too), as `docker logout`
 * does. Returns false when there were none in the file.
 *
 * @example
 * ```ts
 * await removeLogin("localhost:5000")
 * ```
 */
export async function removeLogin(registry: string, options: CredentialStoreOptions = {}): Promise<boolean> {
  const env = options.env ?? process.env;
  const file = options.authFile ?? dockerConfigFile(env);
  const content = await readAuthFile(file);
  if (!content) return false;
  const helper = findKeyed(content.credHelpers, registry)?.value ?? content.credsStore;
  if (typeof helper === "string" && helper !== "") {
    await helperErase(helper, serverUrlFor(registry), { env }).catch(() => undefined);
  }
  const auths: Record<string, AuthEntry> = { ...(content.auths ?? {}) };
  let removed = false;
  for (const k of Object.keys(auths)) {
    if (normalizeAuthKey(k) === normalizeAuthKey(registry)) {
      delete auths[k];
      removed = true;
    }
  }
  if (removed) await writeAuthFile(file, { ...content, auths });
  return removed;
}
