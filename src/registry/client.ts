import type { Readable } from "node:stream";
import { type Digest, digestAlgorithm, digestBytes, isDigest, verifyBytes } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import {
  type Descriptor,
  detectMediaType,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  MediaType,
  manifestKindOf,
  type OciIndex,
  parseManifest,
} from "../manifest/index.js";
import type { Reference } from "../reference/index.js";
import { Authenticator, type AuthOption, credentialProvider } from "./auth.js";
import { resumableBlobStream } from "./blob-read.js";
import { abortedError, displayUrl, httpError, isAbortError, readErrorText } from "./errors.js";
import { bareContentType, headerValue, headerValues, nextLink } from "./headers.js";
import {
  discardBody,
  HttpClient,
  type HttpMethod,
  type HttpResponse,
  type RequestBody,
  type RetryEvent,
} from "./http.js";
import type { ProgressListener } from "./progress.js";
import type { RetryOptions, RetryPolicy } from "./retry.js";
import { CATALOG_SCOPE, mergeScopes, repositoryScope } from "./scope.js";
import { type RegistryTlsOptions, registryBaseUrl, registrySchemes, tlsDispatcher } from "./tls.js";
import { type UploadOptions, type UploadOutcome, type UploadSource, uploadBlob } from "./upload.js";

/** Options for a {@link RegistryClient}. */
export interface RegistryClientOptions extends RegistryTlsOptions {
  /** How to authenticate (default: credentials found as docker and podman find them). */
  auth?: AuthOption;
  retry?: RetryOptions;
  userAgent?: string;
  /** Called before each retry of a request. */
  onRetry?: (event: RetryEvent) => void;
  /** Scopes added to every token request (e.g. pull on the repositories blobs are mounted from). */
  scopes?: readonly string[];
  /** The repository credentials are looked up for (auth files may be keyed by namespace). */
  repository?: string;
}

/** A request through {@link RegistryClient.request}. */
export interface RegistryRequest {
  method: HttpMethod;
  /** A path relative to the registry's base URL, e.g. `v2/acme/app/tags/list`. */
  path?: string;
  /** An absolute URL (an upload `Location`); used instead of `path`. */
  url?: URL;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** The token scopes the request needs. */
  scopes: readonly string[];
  signal?: AbortSignal;
  followRedirects?: boolean;
  retry?: boolean;
}

/** Options every call takes. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** A manifest as the registry served it. */
export interface FetchedManifest {
  /** The exact bytes. */
  bytes: Uint8Array;
  /** From `Content-Type` when it names a manifest type, else from the body. */
  mediaType: string;
  digest: Digest;
  size: number;
}

/** What a `HEAD` on a manifest tells. */
export interface ManifestInfo {
  mediaType: string;
  digest: Digest;
  size: number;
}

/** The answer to a manifest `PUT`. */
export interface PutManifestResult {
  digest: Digest;
  /** `OCI-Subject`: set by registries that index referrers themselves. */
  subject?: string;
}

/** Options for {@link RegistryClient.openBlob}. */
export interface OpenBlobOptions extends CallOptions {
  /** Verify against the descriptor (default true). */
  verify?: boolean;
  onProgress?: ProgressListener;
}

/** Options for listing tags or repositories. */
export interface ListOptions extends CallOptions {
  /** Ask for pages of this many entries (`n`). */
  pageSize?: number;
  /** Start after this entry (`last`). */
  last?: string;
  /** Stop once this many entries have been read. */
  limit?: number;
}

/** Referrers of a manifest. */
export interface Referrers {
  /** Descriptors of the manifests whose `subject` is the digest asked about. */
  manifests: Descriptor[];
  /** `api` when the registry's referrers API answered, `tag` when read from the `sha256-…` tag. */
  source: "api" | "tag";
}

const MAX_PAGES = 10_000;

/**
 * The tag under which the referrers of `digest` are kept by registries without the referrers
 * API (the distribution spec's tag schema): `sha256-<hex>`, at most 128 characters.
 *
 * @example
 * ```ts
 * referrersTag("sha256:0123…") // "sha256-0123…"
 * ```
 */
export function referrersTag(digest: string): string {
  return digest.replace(":", "-").slice(0, 128);
}

/**
 * Reads a body into memory, refusing more than `max` bytes with `E_MANIFEST_TOO_LARGE`.
 *
 * @example
 * ```ts
 * const bytes = await readBody(res, MAX_MANIFEST_BYTES, "manifest latest");
 * ```
 */
export async function readBody(res: HttpResponse, max: number, what: string): Promise<Uint8Array> {
  const declared = Number(headerValue(res.headers, "content-length"));
  if (Number.isFinite(declared) && declared > max) {
    discardBody(res.body);
    throw new CairnError("E_MANIFEST_TOO_LARGE", `${what} is ${declared} bytes; cairn reads at most ${max}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      discardBody(res.body);
      throw new CairnError(
        "E_MANIFEST_TOO_LARGE",
        `${what} is more than ${max} bytes; cairn reads at most ${max}`,
      );
    }
    chunks.push(chunk as Buffer);
  }
  const out = Buffer.concat(chunks);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function manifestMediaType(declared: string | undefined, bytes: Uint8Array): string {
  if (declared !== undefined && manifestKindOf(declared) !== undefined) return declared;
  try {
    const found = detectMediaType(JSON.parse(Buffer.from(bytes).toString("utf8")));
    if (found) return found;
  } catch {
    // not JSON: the caller's parse will say so
  }
  return declared ?? "application/octet-stream";
}

interface SharedState {
  http: HttpClient;
  auth: Authenticator;
  base: Promise<URL> | undefined;
  tls: RegistryTlsOptions;
}

/**
 * A client of one registry's distribution API (v2): ping, manifests, blobs, uploads, tags,
 * catalog and referrers, with authentication, retries and verification of everything read.
 *
 * @example
 * ```ts
 * const client = new RegistryClient("localhost:5000");
 * const m = await client.getManifest("acme/app", "latest");
 * console.log(m.digest, m.mediaType);
 * ```
 */
export class RegistryClient {
  /** The registry host, e.g. `ghcr.io` or `localhost:5000`. */
  readonly registry: string;
  private shared: SharedState;
  private extraScopes: string[];

  constructor(registry: string | Reference, options: RegistryClientOptions = {}) {
    this.registry = typeof registry === "string" ? registry : registry.domain;
    const tls: RegistryTlsOptions = {
      ...(options.insecure !== undefined ? { insecure: options.insecure } : {}),
      ...(options.plainHttp !== undefined ? { plainHttp: options.plainHttp } : {}),
      ...(options.caFile ? { caFile: options.caFile } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.certFile ? { certFile: options.certFile } : {}),
      ...(options.keyFile ? { keyFile: options.keyFile } : {}),
      ...(options.cert ? { cert: options.cert } : {}),
      ...(options.key ? { key: options.key } : {}),
    };
    const own = tlsDispatcher(tls);
    const registryHosts = new Set([this.registry, new URL(registryBaseUrl(this.registry, "https")).host]);
    const http = new HttpClient({
      // the registry's TLS settings apply to the registry only; redirect targets use system trust
      dispatcher: (url) => (registryHosts.has(url.host) ? own : tlsDispatcher()),
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.userAgent ? { userAgent: options.userAgent } : {}),
      ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    });
    const auth = new Authenticator({
      registry: this.registry,
      http,
      credentials: credentialProvider(options.auth),
      ...(options.repository ? { repository: options.repository } : {}),
    });
    this.shared = { http, auth, base: undefined, tls };
    this.extraScopes = [...(options.scopes ?? [])];
  }

  /** The retry settings in force. */
  get retryPolicy(): RetryPolicy {
    return this.shared.http.policy;
  }

  /**
   * A client sharing this one's connections, challenge and tokens that also asks for `scopes`
   * in every token: one token then covers a push and the mounts it needs.
   *
   * @example
   * ```ts
   * const pushing = client.withScopes(["repository:acme/base:pull"]);
   * ```
   */
  withScopes(scopes: readonly string[]): RegistryClient {
    const c = Object.create(RegistryClient.prototype) as RegistryClient;
    Object.assign(c, {
      registry: this.registry,
      shared: this.shared,
      extraScopes: mergeScopes([...this.extraScopes, ...scopes]),
    });
    return c;
  }

  /**
   * Checks that the registry speaks the v2 API (`GET /v2/`), learning its scheme and its auth
   * challenge; returns its base URL. Done once per client, before the first request.
   *
   * @throws CairnError `E_REGISTRY` when the registry cannot be reached or is not a v2 registry
   */
  ping(options: CallOptions = {}): Promise<URL> {
    if (!this.shared.base) {
      const p = this.findBase(options.signal);
      this.shared.base = p;
      p.catch(() => {
        if (this.shared.base === p) this.shared.base = undefined;
      });
    }
    return this.shared.base;
  }

  private async findBase(signal: AbortSignal | undefined): Promise<URL> {
    const schemes = registrySchemes(this.registry, this.shared.tls);
    let lastError: unknown;
    for (const [i, scheme] of schemes.entries()) {
      const more = i < schemes.length - 1;
      const base = new URL(`${registryBaseUrl(this.registry, scheme)}/`);
      const url = new URL("v2/", base);
      let res: HttpResponse;
      try {
        res = await this.shared.http.send({
          method: "GET",
          url,
          retry: !more,
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        if (!more || isAbortError(err)) throw err;
        lastError = err;
        continue;
      }
      const text = await readErrorText(res.body);
      if (res.status === 401) this.shared.auth.learn(res.headers["www-authenticate"]);
      else if (res.status === 400 && scheme === "http" && more) continue;
      else if (res.status !== 200 && res.status !== 403) {
        throw httpError({
          status: res.status,
          method: "GET",
          url,
          registry: this.registry,
          body: text,
          what: "registry check",
          code: "E_REGISTRY",
        });
      }
      this.shared.auth.plainHttpRegistry = scheme === "http";
      return base;
    }
    throw lastError;
  }

  /**
   * Sends one request to the registry with the `Authorization` its scopes need; answers a 401
   * challenge once by authenticating and sending again. Returns answers of any status except
   * 401/403, which throw.
   *
   * @example
   * ```ts
   * const res = await client.request({ method: "GET", path: "v2/_catalog", scopes: ["registry:catalog:*"] });
   * ```
   * @throws CairnError `E_AUTH` for 401/403 after authenticating, `E_REGISTRY`, `E_ABORTED`
   */
  async request(r: RegistryRequest): Promise<HttpResponse> {
    const base = await this.ping(r.signal ? { signal: r.signal } : {});
    const url = r.url ?? new URL(r.path ?? "v2/", base);
    let scopes = mergeScopes([...r.scopes, ...this.extraScopes]);
    for (let attempt = 0; ; attempt++) {
      const value = await this.shared.auth.authorization(scopes, r.signal);
      const res = await this.shared.http.send({
        method: r.method,
        url,
        ...(r.headers ? { headers: r.headers } : {}),
        ...(r.body !== undefined ? { body: r.body } : {}),
        ...(value ? { authorization: { origin: base.origin, value } } : {}),
        ...(r.signal ? { signal: r.signal } : {}),
        ...(r.followRedirects !== undefined ? { followRedirects: r.followRedirects } : {}),
        ...(r.retry !== undefined ? { retry: r.retry } : {}),
      });
      if (res.status === 401 && attempt === 0) {
        const learned = this.shared.auth.learn(res.headers["www-authenticate"]);
        if (learned) {
          discardBody(res.body);
          this.shared.auth.invalidate(value);
          scopes = mergeScopes([...scopes, ...learned.scopes]);
          continue;
        }
      }
      if (res.status === 401 || res.status === 403)
        throw await this.authFailure(res, r.method, scopes, value !== undefined);
      return res;
    }
  }

  /**
   * Checks that this client's credentials are accepted, as `docker login` does; returns the
   * refresh token a token server handed out for them, if any.
   *
   * @example
   * ```ts
   * await new RegistryClient("localhost:5000", { auth: { username, password } }).verifyLogin();
   * ```
   * @throws CairnError `E_AUTH` when the registry refuses the credentials
   */
  async verifyLogin(options: CallOptions = {}): Promise<{ refreshToken?: string }> {
    const result = await this.shared.auth.verifyLogin(async () => {
      await this.ping(options);
    }, options.signal);
    if (this.shared.auth.scheme === "basic") {
      const res = await this.request({
        method: "GET",
        path: "v2/",
        scopes: [],
        ...(options.signal ? { signal: options.signal } : {}),
      });
      await this.expect(res, [200], "GET", "login check");
      discardBody(res.body);
    }
    return result;
  }

  private async authFailure(
    res: HttpResponse,
    method: string,
    scopes: string[],
    sentAuth: boolean,
  ): Promise<CairnError> {
    const body = await readErrorText(res.body);
    const base = httpError({
      status: res.status,
      method,
      url: res.url,
      registry: this.registry,
      body,
      code: "E_AUTH",
    });
    const hint = sentAuth
      ? `the credentials do not grant scope ${scopes.join(" ") || "(none)"}`
      : `no credentials were sent; log in with \`cairn login ${this.registry}\``;
    return new CairnError("E_AUTH", `${base.message} (${hint})`, { details: { ...base.details, scopes } });
  }

  private async expect(
    res: HttpResponse,
    ok: readonly number[],
    method: string,
    what: string,
  ): Promise<HttpResponse> {
    if (ok.includes(res.status)) return res;
    throw httpError({
      status: res.status,
      method,
      url: res.url,
      registry: this.registry,
      body: await readErrorText(res.body),
      what,
    });
  }

  /**
   * Fetches a manifest (or index) by tag or digest, asking for every manifest media type. The
   * bytes are checked against the digest asked for and against `Docker-Content-Digest`.
   *
   * @example
   * ```ts
   * const { bytes, mediaType, digest } = await client.getManifest("library/alpine", "3.20");
   * ```
   * @throws CairnError `E_NOT_FOUND`, `E_DIGEST_MISMATCH`, `E_MANIFEST_TOO_LARGE`, `E_AUTH`, `E_REGISTRY`
   */
  async getManifest(
    repo: string,
    reference: string,
    options: CallOptions & { accept?: readonly string[] } = {},
  ): Promise<FetchedManifest> {
    const what = `manifest ${reference} of ${this.registry}/${repo}`;
    const res = await this.expect(
      await this.request({
        method: "GET",
        path: `v2/${repo}/manifests/${reference}`,
        headers: { accept: (options.accept ?? MANIFEST_ACCEPT).join(", ") },
        scopes: [repositoryScope(repo, ["pull"])],
        ...(options.signal ? { signal: options.signal } : {}),
      }),
      [200],
      "GET",
      what,
    );
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, what);
    const said = headerValue(res.headers, "docker-content-digest");
    const source = displayUrl(res.url);
    if (isDigest(reference)) verifyBytes(bytes, { digest: reference, source });
    if (said !== undefined && isDigest(said))
      verifyBytes(bytes, { digest: said, source: `${source} (Docker-Content-Digest)` });
    const digest = isDigest(reference)
      ? reference
      : said !== undefined && isDigest(said)
        ? said
        : digestBytes(bytes);
    const mediaType = manifestMediaType(bareContentType(headerValue(res.headers, "content-type")), bytes);
    return { bytes, mediaType, digest, size: bytes.length };
  }

  /**
   * Asks whether a manifest exists (`HEAD`), and its digest, media type and size; undefined on
   * 404. Falls back to a `GET` when the registry sends no `Docker-Content-Digest`.
   *
   * @example
   * ```ts
   * const info = await client.headManifest("acme/app", "latest");
   * ```
   */
  async headManifest(
    repo: string,
    reference: string,
    options: CallOptions = {},
  ): Promise<ManifestInfo | undefined> {
    const res = await this.request({
      method: "HEAD",
      path: `v2/${repo}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT.join(", ") },
      scopes: [repositoryScope(repo, ["pull"])],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    discardBody(res.body);
    if (res.status === 404) return undefined;
    await this.expect(res, [200], "HEAD", `manifest ${reference} of ${this.registry}/${repo}`);
    const said = headerValue(res.headers, "docker-content-digest");
    const size = Number(headerValue(res.headers, "content-length"));
    const type = bareContentType(headerValue(res.headers, "content-type"));
    if (said !== undefined && isDigest(said) && Number.isSafeInteger(size) && type && manifestKindOf(type)) {
      if (isDigest(reference) && said !== reference) {
        throw new CairnError(
          "E_DIGEST_MISMATCH",
          `registry ${this.registry} answered HEAD ${repo}@${reference} with digest ${said}`,
        );
      }
      return { digest: said, size, mediaType: type };
    }
    const m = await this.getManifest(repo, reference, options);
    return { digest: m.digest, size: m.size, mediaType: m.mediaType };
  }

  /**
   * Uploads a manifest under a tag or its digest, with its media type as `Content-Type`.
   *
   * @example
   * ```ts
   * await client.putManifest("acme/app", "v1", bytes, "application/vnd.oci.image.manifest.v1+json");
   * ```
   * @throws CairnError `E_DIGEST_MISMATCH` when `reference` is a digest the bytes do not have, or the
   *   registry reports another digest; `E_REGISTRY` (e.g. `MANIFEST_BLOB_UNKNOWN`), `E_AUTH`
   */
  async putManifest(
    repo: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    options: CallOptions = {},
  ): Promise<PutManifestResult> {
    const digest = isDigest(reference) ? reference : digestBytes(bytes);
    if (isDigest(reference)) verifyBytes(bytes, { digest: reference, source: `manifest for ${repo}` });
    const what = `upload of manifest ${reference} to ${this.registry}/${repo}`;
    const res = await this.expect(
      await this.request({
        method: "PUT",
        path: `v2/${repo}/manifests/${reference}`,
        headers: { "content-type": mediaType },
        body: bytes,
        scopes: [repositoryScope(repo, ["pull", "push"])],
        ...(options.signal ? { signal: options.signal } : {}),
      }),
      [200, 201, 202, 204],
      "PUT",
      what,
    );
    discardBody(res.body);
    const said = headerValue(res.headers, "docker-content-digest");
    if (said !== undefined && isDigest(said)) {
      const ours = digestBytes(bytes, digestAlgorithm(said));
      if (ours !== said) {
        throw new CairnError(
          "E_DIGEST_MISMATCH",
          `${what}: the registry stored it as ${said}, its bytes are ${ours}`,
          {
            details: { expected: ours, actual: said },
          },
        );
      }
    }
    const subject = headerValue(res.headers, "oci-subject");
    return { digest, ...(subject ? { subject } : {}) };
  }

  /**
   * Deletes a manifest by digest (or a tag, where the registry allows it).
   *
   * @example
   * ```ts
   * await client.deleteManifest("acme/app", "sha256:…");
   * ```
   * @throws CairnError `E_NOT_FOUND`; `E_REGISTRY` (405 `UNSUPPORTED` when deletion is disabled)
   */
  async deleteManifest(repo: string, reference: string, options: CallOptions = {}): Promise<void> {
    const res = await this.request({
      method: "DELETE",
      path: `v2/${repo}/manifests/${reference}`,
      scopes: [repositoryScope(repo, ["delete"])],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await this.expect(res, [200, 202, 204], "DELETE", `manifest ${reference} of ${this.registry}/${repo}`);
    discardBody(res.body);
  }

  /**
   * The size of a blob the registry has, or undefined when it has not (`HEAD`).
   *
   * @example
   * ```ts
   * if (await client.headBlob("acme/app", digest)) console.log("already there");
   * ```
   */
  async headBlob(
    repo: string,
    digest: string,
    options: CallOptions = {},
  ): Promise<{ size: number } | undefined> {
    const res = await this.request({
      method: "HEAD",
      path: `v2/${repo}/blobs/${digest}`,
      scopes: [repositoryScope(repo, ["pull"])],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    discardBody(res.body);
    if (res.status === 404) return undefined;
    await this.expect(res, [200], "HEAD", `blob ${digest} of ${this.registry}/${repo}`);
    const size = Number(headerValue(res.headers, "content-length"));
    return { size: Number.isSafeInteger(size) ? size : -1 };
  }

  /**
   * Streams a blob, following redirects (without credentials to other hosts), resuming a
   * broken download from where it stopped, verified against the descriptor.
   *
   * @example
   * ```ts
   * await pipeline(await client.openBlob("acme/app", layerDescriptor), fs.createWriteStream("layer.tgz"));
   * ```
   * @throws CairnError `E_NOT_FOUND`; the stream fails with `E_DIGEST_MISMATCH`/`E_SIZE_MISMATCH`
   */
  async openBlob(repo: string, descriptor: Descriptor, options: OpenBlobOptions = {}): Promise<Readable> {
    const where = `blob ${descriptor.digest} of ${this.registry}/${repo}`;
    const fetch = async (
      offset: number,
      ifRange: string | undefined,
      signal?: AbortSignal,
    ): Promise<HttpResponse> => {
      const headers: Record<string, string> = {};
      if (offset > 0) {
        headers["range"] = `bytes=${offset}-`;
        if (ifRange) headers["if-range"] = ifRange;
      }
      const res = await this.request({
        method: "GET",
        path: `v2/${repo}/blobs/${descriptor.digest}`,
        headers,
        scopes: [repositoryScope(repo, ["pull"])],
        ...(signal ? { signal } : {}),
      });
      return this.expect(res, offset > 0 ? [200, 206] : [200], "GET", where);
    };
    // the first answer is awaited here so that a missing blob fails the call, not the stream
    const first = await fetch(0, undefined, options.signal);
    let handedOut = false;
    const stream = resumableBlobStream(
      async (offset, ifRange, signal) => {
        if (!handedOut && offset === 0) {
          handedOut = true;
          return first;
        }
        return fetch(offset, ifRange, signal);
      },
      descriptor,
      {
        policy: this.retryPolicy,
        where,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.verify !== undefined ? { verify: options.verify } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      },
    );
    stream.on("close", () => {
      if (!handedOut) discardBody(first.body);
    });
    return stream;
  }

  /**
   * Reads a small blob (a config) into memory, verified; refused above `maxBytes`.
   *
   * @example
   * ```ts
   * const config = await client.readBlob("acme/app", manifest.config, 8 << 20);
   * ```
   */
  async readBlob(
    repo: string,
    descriptor: Descriptor,
    maxBytes: number,
    options: OpenBlobOptions = {},
  ): Promise<Uint8Array> {
    if (descriptor.size > maxBytes) {
      throw new CairnError(
        "E_SIZE_LIMIT",
        `blob ${descriptor.digest} is ${descriptor.size} bytes; at most ${maxBytes} are read into memory`,
      );
    }
    const stream = await this.openBlob(repo, descriptor, options);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of stream) chunks.push(chunk as Buffer);
    } catch (err) {
      if (options.signal?.aborted)
        throw abortedError(`download of ${descriptor.digest}`, options.signal.reason);
      throw err;
    }
    const out = Buffer.concat(chunks);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /**
   * Deletes a blob.
   *
   * @example
   * ```ts
   * await client.deleteBlob("acme/app", digest);
   * ```
   * @throws CairnError `E_NOT_FOUND`; `E_REGISTRY` (405 when deletion is disabled)
   */
  async deleteBlob(repo: string, digest: string, options: CallOptions = {}): Promise<void> {
    const res = await this.request({
      method: "DELETE",
      path: `v2/${repo}/blobs/${digest}`,
      scopes: [repositoryScope(repo, ["delete"])],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await this.expect(res, [200, 202, 204], "DELETE", `blob ${digest} of ${this.registry}/${repo}`);
    discardBody(res.body);
  }

  /**
   * Uploads a blob unless the registry has it (mounting it from `mountFrom` repositories when
   * possible); see {@link uploadBlob}.
   *
   * @example
   * ```ts
   * await client.pushBlob("acme/app", { descriptor, open: () => layer.open() });
   * ```
   */
  pushBlob(repo: string, source: UploadSource, options: UploadOptions = {}): Promise<UploadOutcome> {
    return uploadBlob(this, repo, source, options);
  }

  private async *pages(
    path: string,
    key: "tags" | "repositories",
    scope: string,
    options: ListOptions,
  ): AsyncGenerator<string[], void, undefined> {
    const base = await this.ping(options.signal ? { signal: options.signal } : {});
    let url: URL | undefined = new URL(path, base);
    if (options.pageSize !== undefined) url.searchParams.set("n", String(options.pageSize));
    if (options.last !== undefined) url.searchParams.set("last", options.last);
    const seen = new Set<string>();
    for (let page = 0; url && page < MAX_PAGES; page++) {
      if (seen.has(url.href)) return;
      seen.add(url.href);
      const what =
        key === "tags"
          ? `tags of ${this.registry}/${path.split("/").slice(1, -2).join("/")}`
          : `catalog of ${this.registry}`;
      const res = await this.expect(
        await this.request({
          method: "GET",
          url,
          scopes: [scope],
          ...(options.signal ? { signal: options.signal } : {}),
        }),
        [200],
        "GET",
        what,
      );
      const body = await readBody(res, 64 * 1024 * 1024, what);
      let list: unknown;
      try {
        list = (JSON.parse(Buffer.from(body).toString("utf8")) as Record<string, unknown>)[key];
      } catch {
        throw new CairnError("E_REGISTRY", `${what}: the registry answered something that is not JSON`);
      }
      if (
        list !== null &&
        list !== undefined &&
        (!Array.isArray(list) || list.some((t) => typeof t !== "string"))
      ) {
        throw new CairnError("E_REGISTRY", `${what}: expected "${key}" to be a list of strings`);
      }
      yield (list ?? []) as string[];
      url = nextLink(headerValues(res.headers, "link"), res.url);
    }
  }

  /**
   * The pages of a repository's tags, following `Link` headers.
   *
   * @example
   * ```ts
   * for await (const page of client.tagPages("acme/app", { pageSize: 100 })) console.log(page);
   * ```
   */
  tagPages(repo: string, options: ListOptions = {}): AsyncGenerator<string[], void, undefined> {
    return this.pages(`v2/${repo}/tags/list`, "tags", repositoryScope(repo, ["pull"]), options);
  }

  /**
   * Every tag of a repository (all pages, up to `limit`).
   *
   * @example
   * ```ts
   * await client.listTags("acme/app") // ["1.0", "latest"]
   * ```
   * @throws CairnError `E_NOT_FOUND` for an unknown repository
   */
  async listTags(repo: string, options: ListOptions = {}): Promise<string[]> {
    return collect(this.tagPages(repo, options), options.limit);
  }

  /**
   * The repositories of the registry (`/v2/_catalog`, all pages, up to `limit`).
   *
   * @example
   * ```ts
   * await client.catalog() // ["acme/app", "library/alpine"]
   * ```
   */
  async catalog(options: ListOptions = {}): Promise<string[]> {
    return collect(this.pages("v2/_catalog", "repositories", CATALOG_SCOPE, options), options.limit);
  }

  /**
   * The manifests that refer to `digest` (their `subject`), from the referrers API, or from
   * the `sha256-<hex>` tag when the registry has no such API; filtered by `artifactType`.
   *
   * @example
   * ```ts
   * const { manifests } = await client.referrers("acme/app", digest, { artifactType: "application/vnd.example.sbom" });
   * ```
   */
  async referrers(
    repo: string,
    digest: string,
    options: CallOptions & { artifactType?: string } = {},
  ): Promise<Referrers> {
    const what = `referrers of ${this.registry}/${repo}@${digest}`;
    const query = options.artifactType ? `?artifactType=${encodeURIComponent(options.artifactType)}` : "";
    const res = await this.request({
      method: "GET",
      path: `v2/${repo}/referrers/${digest}${query}`,
      headers: { accept: MediaType.ociIndex },
      scopes: [repositoryScope(repo, ["pull"])],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const filter = (list: Descriptor[], applied: boolean) =>
      options.artifactType && !applied ? list.filter((d) => d.artifactType === options.artifactType) : list;
    if (res.status === 200) {
      const bytes = await readBody(res, MAX_MANIFEST_BYTES, what);
      const index = parseIndex(bytes, what);
      const applied = headerValues(res.headers, "oci-filters-applied").some((v) =>
        /(^|,)\s*artifactType\s*(,|$)/.test(v),
      );
      return { manifests: filter(index.manifests, applied), source: "api" };
    }
    if (res.status !== 404) await this.expect(res, [200], "GET", what);
    discardBody(res.body);
    try {
      const m = await this.getManifest(repo, referrersTag(digest), options);
      return { manifests: filter(parseIndex(m.bytes, what).manifests, false), source: "tag" };
    } catch (err) {
      if (err instanceof CairnError && err.code === "E_NOT_FOUND") return { manifests: [], source: "tag" };
      throw err;
    }
  }
}

function parseIndex(bytes: Uint8Array, what: string): OciIndex {
  const parsed = parseManifest(bytes, MediaType.ociIndex);
  if (parsed.kind !== "oci-index")
    throw new CairnError("E_MANIFEST_INVALID", `${what}: expected an OCI image index`);
  return parsed.value;
}

async function collect(
  pages: AsyncGenerator<string[], void, undefined>,
  limit: number | undefined,
): Promise<string[]> {
  const out: string[] = [];
  for await (const page of pages) {
    out.push(...page);
    if (limit !== undefined && out.length >= limit) {
      await pages.return(undefined);
      return out.slice(0, limit);
    }
  }
  return out;
}
