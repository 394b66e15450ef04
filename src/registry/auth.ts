import { createHash } from "node:crypto";
import { CairnError } from "../errors/index.js";
import { isLoopbackHost } from "../reference/index.js";
import { type Challenge, parseChallenges, pickChallenge } from "./challenge.js";
import { type Credentials, findCredentials } from "./credentials.js";
import { displayUrl, httpError, readErrorText } from "./errors.js";
import { discardBody, type HttpClient, type HttpResponse } from "./http.js";
import { mergeScopes, scopesCover } from "./scope.js";

/** Finds credentials for a registry host (and the repository a request is for). */
export type CredentialProvider = (registry: string, repository?: string) => Promise<Credentials | undefined>;

/**
 * How a client authenticates: explicit {@link Credentials}, `"anonymous"` (never send any), or
 * a {@link CredentialProvider}. By default credentials are found as docker and podman find them
 * ({@link findCredentials}).
 */
export type AuthOption = Credentials | "anonymous" | CredentialProvider;

/** A bearer token and what it is good for, as cached. */
export interface CachedToken {
  token: string;
  scopes: string[];
  /** Epoch ms after which it is not used. */
  expiresAt: number;
  /** A refresh token the server handed out (`offline_token` logins). */
  refreshToken?: string;
}

const MAX_TOKEN_BODY = 1024 * 1024;
/** Docker's token spec: a token without `expires_in` lasts 60 s. */
const DEFAULT_EXPIRES_IN = 60;
const MAX_CACHED_PER_KEY = 32;

/** Tokens shared by every client in the process, per (registry, realm, service, credentials). */
const sharedTokens = new Map<string, CachedToken[]>();

/**
 * Forgets every cached bearer token.
 *
 * @example
 * ```ts
 * clearTokenCache()
 * ```
 */
export function clearTokenCache(): void {
  sharedTokens.clear();
}

/**
 * The {@link CredentialProvider} an {@link AuthOption} stands for.
 *
 * @example
 * ```ts
 * await credentialProvider({ username: "me", password: "pw" })("ghcr.io") // { username: "me", password: "pw" }
 * ```
 */
export function credentialProvider(auth: AuthOption | undefined): CredentialProvider {
  if (auth === undefined)
    return (registry, repository) => findCredentials(registry, repository ? { repository } : {});
  if (auth === "anonymous") return async () => undefined;
  if (typeof auth === "function") return auth;
  return async () => auth;
}

/** Options for an {@link Authenticator}. */
export interface AuthenticatorOptions {
  /** The registry host, e.g. `ghcr.io`, for messages and credential lookup. */
  registry: string;
  http: HttpClient;
  credentials: CredentialProvider;
  /** A repository to look credentials up for (auth files may be keyed by namespace). */
  repository?: string;
  /** `client_id` sent to token servers (default `cairn`). */
  clientId?: string;
}

/**
 * Answers a registry's challenges: remembers the `WWW-Authenticate` challenge, then gives each
 * request the `Authorization` it needs: Basic with a password, or a Bearer token fetched from
 * the challenge's realm (with credentials, a refresh token, or anonymously) and cached for its
 * scopes until `expires_in`.
 *
 * @example
 * ```ts
 * const auth = new Authenticator({ registry: "localhost:5000", http, credentials: credentialProvider(undefined) });
 * auth.learn(res.headers["www-authenticate"]);
 * const value = await auth.authorization(["repository:acme/app:pull"]);
 * ```
 */
export class Authenticator {
  private challenge: Challenge | undefined;
  private creds: Promise<Credentials | undefined> | undefined;
  private readonly inflight = new Map<string, Promise<CachedToken>>();
  private readonly clientId: string;
  private fingerprint = "unknown";
  /** When the registry itself is reached over plain HTTP, an HTTP token realm is no downgrade. */
  plainHttpRegistry = false;

  constructor(private readonly options: AuthenticatorOptions) {
    this.clientId = options.clientId ?? "cairn";
  }

  /** The auth scheme the registry asked for (`bearer`, `basic`), once known. */
  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  /**
   * Records the challenge of a 401 answer; returns the challenge's own `scope` (registries name
   * the scope they want there), or undefined when there is no usable challenge.
   */
  learn(header: string | string[] | undefined): { scopes: string[] } | undefined {
    const picked = pickChallenge(parseChallenges(header));
    if (!picked) return undefined;
    this.challenge = picked;
    const scope = picked.params["scope"];
    return { scopes: scope ? scope.split(" ").filter(Boolean) : [] };
  }

  private credentials(): Promise<Credentials | undefined> {
    this.creds ??= this.options.credentials(this.options.registry, this.options.repository).then((c) => {
      // tokens are shared between clients only when they were asked for with the same credentials
      this.fingerprint = c ? createHash("sha256").update(JSON.stringify(c)).digest("hex") : "anonymous";
      return c;
    });
    return this.creds;
  }

  /**
   * The `Authorization` value for a request needing `scopes`; undefined when the registry has
   * not asked for authentication (yet).
   *
   * @throws CairnError `E_AUTH` when the registry's challenge cannot be met
   */
  async authorization(scopes: readonly string[], signal?: AbortSignal): Promise<string | undefined> {
    const c = this.challenge;
    // credentials (and credential helpers) are looked up only once a registry asks for them
    if (!c) return undefined;
    const creds = await this.credentials();
    if (creds && "registryToken" in creds) return `Bearer ${creds.registryToken}`;
    if (c.scheme === "basic") {
      if (creds && "password" in creds) return basicAuth(creds.username, creds.password);
      throw new CairnError(
        "E_AUTH",
        `registry ${this.options.registry} asks for a user name and password (Basic auth) and ${
          creds ? "only a token is configured" : "none were found"
        }; log in with \`cairn login ${this.options.registry}\``,
        { details: { registry: this.options.registry } },
      );
    }
    return `Bearer ${(await this.token(mergeScopes(scopes), signal)).token}`;
  }

  /** Drops a token the registry refused, so the next request fetches a new one. */
  invalidate(authorization: string | undefined): void {
    if (!authorization?.startsWith("Bearer ")) return;
    const token = authorization.slice("Bearer ".length);
    const list = sharedTokens.get(this.cacheKey());
    if (list)
      sharedTokens.set(
        this.cacheKey(),
        list.filter((t) => t.token !== token),
      );
  }

  private cacheKey(): string {
    const c = this.challenge;
    return JSON.stringify([
      this.options.registry,
      c?.params["realm"],
      c?.params["service"],
      this.fingerprint,
    ]);
  }

  private async token(scopes: string[], signal?: AbortSignal): Promise<CachedToken> {
    const creds = await this.credentials();
    const key = this.cacheKey();
    const now = Date.now();
    const cached = (sharedTokens.get(key) ?? []).find(
      (t) => t.expiresAt > now && scopesCover(t.scopes, scopes),
    );
    if (cached) return cached;
    const flightKey = `${key} ${scopes.join(" ")}`;
    let p = this.inflight.get(flightKey);
    if (!p) {
      p = this.fetchToken(scopes, creds, {}, signal).finally(() => this.inflight.delete(flightKey));
      this.inflight.set(flightKey, p);
    }
    const t = await p;
    const list = (sharedTokens.get(key) ?? []).filter((x) => x.expiresAt > Date.now());
    list.unshift(t);
    sharedTokens.set(key, list.slice(0, MAX_CACHED_PER_KEY));
    return t;
  }

  /**
   * Checks that the credentials work, as `docker login` does: a token with no scope from a
   * Bearer realm (asking for a refresh token), or `GET /v2/` with Basic. Returns the refresh
   * token the server handed out, if any.
   *
   * @throws CairnError `E_AUTH` when the registry refuses the credentials
   */
  async verifyLogin(ping: () => Promise<void>, signal?: AbortSignal): Promise<{ refreshToken?: string }> {
    await ping();
    const c = this.challenge;
    if (!c) return {};
    if (c.scheme === "basic") return {};
    const t = await this.fetchToken([], await this.credentials(), { offline: true }, signal);
    return t.refreshToken ? { refreshToken: t.refreshToken } : {};
  }

  private realmUrl(): URL {
    const realm = this.challenge?.params["realm"];
    const registry = this.options.registry;
    if (!realm)
      throw new CairnError("E_AUTH", `registry ${registry} asked for a Bearer token without naming a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new CairnError(
        "E_AUTH",
        `registry ${registry} named a token realm that is not a URL: ${JSON.stringify(realm)}`,
      );
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new CairnError("E_AUTH", `registry ${registry} named a token realm with scheme ${url.protocol}`);
    }
    if (url.protocol === "http:" && !this.plainHttpRegistry && !isLoopbackHost(url.host)) {
      throw new CairnError(
        "E_AUTH",
        `registry ${registry} named a plain-HTTP token realm ${displayUrl(url)}; refusing to send credentials unencrypted`,
      );
    }
    return url;
  }

  private async fetchToken(
    scopes: string[],
    creds: Credentials | undefined,
    flags: { offline?: boolean },
    signal?: AbortSignal,
  ): Promise<CachedToken> {
    const url = this.realmUrl();
    const service = this.challenge?.params["service"];
    const started = Date.now();
    let res: HttpResponse;
    if (creds && "identityToken" in creds) {
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: creds.identityToken });
      form.set("client_id", this.clientId);
      if (service) form.set("service", service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      if (flags.offline) form.set("access_type", "offline");
      res = await this.options.http.send({
        method: "POST",
        url,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form.toString(),
        ...(signal ? { signal } : {}),
      });
      if (res.status === 404 || res.status === 405) {
        // a token server without the OAuth2 POST (as GCR): the GET with the token as a password
        discardBody(res.body);
        const basic = { username: creds.username ?? "<token>", password: creds.identityToken };
        return this.fetchToken(scopes, basic, flags, signal);
      }
    } else {
      if (service) url.searchParams.set("service", service);
      for (const s of scopes) url.searchParams.append("scope", s);
      const password = creds && "password" in creds ? creds : undefined;
      if (password) url.searchParams.set("account", password.username);
      if (flags.offline) {
        url.searchParams.set("offline_token", "true");
        url.searchParams.set("client_id", this.clientId);
      }
      res = await this.options.http.send({
        method: "GET",
        url,
        ...(password
          ? { authorization: { origin: url.origin, value: basicAuth(password.username, password.password) } }
          : {}),
        ...(signal ? { signal } : {}),
      });
    }
    if (res.status !== 200) {
      const body = await readErrorText(res.body);
      const who = creds ? "the credentials" : "an anonymous request";
      if (res.status === 401 || res.status === 403) {
        throw new CairnError(
          "E_AUTH",
          `the token server of registry ${this.options.registry} refused ${who} for scope ${
            scopes.length > 0 ? scopes.join(" ") : "(login)"
          } (${res.status})${creds ? "" : `; log in with \`cairn login ${this.options.registry}\``}`,
          { details: { registry: this.options.registry, scopes, status: res.status } },
        );
      }
      throw httpError({
        status: res.status,
        method: "GET",
        url,
        registry: this.options.registry,
        body,
        what: "token request",
      });
    }
    return parseTokenResponse(await readLimited(res), scopes, started, this.options.registry);
  }
}

async function readLimited(res: HttpResponse): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_TOKEN_BODY) {
      discardBody(res.body);
      throw new CairnError("E_AUTH", `token response larger than ${MAX_TOKEN_BODY} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Reads a token server's JSON answer (`token` or `access_token`, `expires_in`,
 * `refresh_token`).
 *
 * @example
 * ```ts
 * parseTokenResponse('{"token":"t","expires_in":300}', ["repository:a:pull"], Date.now(), "r").token // "t"
 * ```
 */
export function parseTokenResponse(
  text: string,
  scopes: string[],
  started: number,
  registry: string,
): CachedToken {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new CairnError(
      "E_AUTH",
      `the token server of registry ${registry} answered something that is not JSON`,
    );
  }
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  const token = typeof o["access_token"] === "string" && o["access_token"] ? o["access_token"] : o["token"];
  if (typeof token !== "string" || token === "" || /[\r\n]/.test(token)) {
    throw new CairnError("E_AUTH", `the token server of registry ${registry} answered without a token`);
  }
  const expiresIn =
    typeof o["expires_in"] === "number" && Number.isFinite(o["expires_in"]) && o["expires_in"] > 0
      ? o["expires_in"]
      : DEFAULT_EXPIRES_IN;
  // a little before the stated expiry, measured from when we asked (clocks may disagree)
  const lifetime = expiresIn * 1000 - Math.min(5000, expiresIn * 100);
  const refresh = o["refresh_token"];
  return {
    token,
    scopes,
    expiresAt: started + lifetime,
    ...(typeof refresh === "string" && refresh !== "" ? { refreshToken: refresh } : {}),
  };
}

/**
 * The `Authorization` value for Basic auth.
 *
 * @example
 * ```ts
 * basicAuth("me", "secret") // "Basic bWU6c2VjcmV0"
 * ```
 */
export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}
