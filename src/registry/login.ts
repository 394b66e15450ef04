import { CairnError } from "../errors/index.js";
import { RegistryClient } from "./client.js";
import {
  type CredentialStoreOptions,
  type Credentials,
  removeLogin,
  type SavedLogin,
  saveLogin,
} from "./credentials.js";
import type { RegistryTlsOptions } from "./tls.js";

/** Options for {@link login}. */
export interface LoginOptions extends RegistryTlsOptions, CredentialStoreOptions {
  username: string;
  password: string;
  signal?: AbortSignal;
  /** Save without checking the credentials against the registry first. */
  skipVerify?: boolean;
}

function hostOf(registry: string): string {
  let host = registry.trim();
  host = host.replace(/^[a-z]+:\/\//i, "");
  host = host.replace(/\/.*$/, "");
  if (host === "index.docker.io" || host === "registry-1.docker.io") host = "docker.io";
  if (host === "")
    throw new CairnError("E_USAGE", `login needs a registry host, found ${JSON.stringify(registry)}`);
  return host;
}

/**
 * Logs in as `docker login` does: checks the credentials against the registry (a token from
 * its realm, or Basic on `/v2/`), then saves them in docker's `config.json` (or the configured
 * credential helper). When the token server hands out a refresh token it is saved as
 * `identitytoken` instead of the password.
 *
 * @example
 * ```ts
 * await login("localhost:5000", { username: "me", password: process.env.PASSWORD! });
 * ```
 * @throws CairnError `E_AUTH` when the registry refuses the credentials
 */
export async function login(registry: string, options: LoginOptions): Promise<SavedLogin> {
  const host = hostOf(registry);
  const { username, password, signal, skipVerify, env, authFile, ...tls } = options;
  let credentials: Credentials = { username, password };
  if (!skipVerify) {
    const client = new RegistryClient(host, { ...tls, auth: credentials, retry: { retries: 2 } });
    const result = await client.verifyLogin(signal ? { signal } : {});
    if (result.refreshToken) credentials = { username, identityToken: result.refreshToken };
  }
  return saveLogin(host, credentials, { ...(env ? { env } : {}), ...(authFile ? { authFile } : {}) });
}

/**
 * Removes a registry's saved credentials, as `docker logout` does; false when there were none.
 *
 * @example
 * ```ts
 * await logout("localhost:5000");
 * ```
 */
export function logout(registry: string, options: CredentialStoreOptions = {}): Promise<boolean> {
  return removeLogin(hostOf(registry), options);
}
