import { pipeline, type Readable } from "node:stream";
import { digestAlgorithm, digestBytes } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import type { Descriptor } from "../manifest/index.js";
import type { RegistryClient } from "./client.js";
import { httpError, isAbortError, readErrorText } from "./errors.js";
import { headerValue, parseUploadRange, uploadContentRange } from "./headers.js";
import { discardBody, type HttpResponse } from "./http.js";
import { countingStream, type ProgressListener, progressReporter } from "./progress.js";
import { backoffDelay, isRetryableNetworkError, isRetryableStatus, sleep } from "./retry.js";
import { repositoryScope } from "./scope.js";

/** A blob to upload: its descriptor and a way to read it from the start (more than once). */
export interface UploadSource {
  descriptor: Descriptor;
  open(): Promise<Readable | Uint8Array>;
}

/** Options for {@link RegistryClient.pushBlob}. */
export interface UploadOptions {
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /**
   * Upload in `PATCH` chunks of this many bytes (raised to the registry's
   * `OCI-Chunk-Min-Length`) instead of one streamed `PUT`.
   */
  chunkSize?: number;
  /** Repositories of the same registry to mount the blob from before uploading it. */
  mountFrom?: readonly string[];
  /** Do not ask first whether the registry already has the blob. */
  skipExistsCheck?: boolean;
}

/** What happened to an uploaded blob. */
export type UploadOutcome = "exists" | "mounted" | "uploaded";

/** An open upload session. */
interface Session {
  location: URL;
  /** `OCI-Chunk-Min-Length`, when the registry sent one. */
  minChunk: number | undefined;
}

/**
 * True for failures a new attempt may cure (broken connections, 408/429/5xx).
 *
 * @example
 * ```ts
 * isTransientFailure(Object.assign(new Error("reset"), { code: "ECONNRESET" })) // true
 * ```
 */
export function isTransientFailure(err: unknown): boolean {
  if (isAbortError(err)) return false;
  if (err instanceof CairnError) {
    const status = err.details?.["status"];
    if (typeof status === "number") return isRetryableStatus(status);
  }
  return isRetryableNetworkError(err);
}

/**
 * The URL of an upload `Location` with `digest` added to its query, keeping the registry's own
 * query (often opaque state) byte for byte.
 *
 * @example
 * ```ts
 * withDigest(new URL("http://r/v2/a/blobs/uploads/u?_state=x"), "sha256:…").search // "?_state=x&digest=sha256%3A…"
 * ```
 */
export function withDigest(location: URL, digest: string): URL {
  const url = new URL(location.href);
  const param = `digest=${encodeURIComponent(digest)}`;
  url.search = url.search && url.search !== "?" ? `${url.search}&${param}` : `?${param}`;
  return url;
}

function locationOf(res: HttpResponse, what: string, registry: string): URL {
  const location = headerValue(res.headers, "location");
  if (!location)
    throw new CairnError(
      "E_REGISTRY",
      `registry ${registry} answered ${res.status} to ${what} without a Location`,
    );
  try {
    return new URL(location, res.url);
  } catch {
    throw new CairnError(
      "E_REGISTRY",
      `registry ${registry} answered ${what} with an unusable Location ${JSON.stringify(location)}`,
    );
  }
}

async function failure(
  res: HttpResponse,
  method: string,
  registry: string,
  what: string,
): Promise<CairnError> {
  return httpError({
    status: res.status,
    method,
    url: res.url,
    registry,
    body: await readErrorText(res.body),
    what,
  });
}

function pushScopes(repo: string): string[] {
  return [repositoryScope(repo, ["pull", "push"])];
}

/**
 * Asks the registry to mount a blob from another repository; true when it did (201), false
 * when it opened an upload session instead (202; that session is returned through `session`).
 */
async function tryMount(
  client: RegistryClient,
  repo: string,
  digest: string,
  from: string,
  signal: AbortSignal | undefined,
): Promise<{ mounted: true } | { mounted: false; session?: Session }> {
  const path = `v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
  let res: HttpResponse;
  try {
    res = await client.request({
      method: "POST",
      path,
      scopes: [...pushScopes(repo), repositoryScope(from, ["pull"])],
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    // a token without pull on the source repository: upload instead
    if (err instanceof CairnError && err.code === "E_AUTH") return { mounted: false };
    throw err;
  }
  discardBody(res.body);
  if (res.status === 201) return { mounted: true };
  if (res.status === 202 && headerValue(res.headers, "location")) {
    return { mounted: false, session: sessionOf(res, client.registry, repo) };
  }
  return { mounted: false };
}

function sessionOf(res: HttpResponse, registry: string, repo: string): Session {
  const min = Number(headerValue(res.headers, "oci-chunk-min-length"));
  return {
    location: locationOf(res, `POST /v2/${repo}/blobs/uploads/`, registry),
    minChunk: Number.isSafeInteger(min) && min > 0 ? min : undefined,
  };
}

async function startSession(
  client: RegistryClient,
  repo: string,
  signal: AbortSignal | undefined,
): Promise<Session> {
  const res = await client.request({
    method: "POST",
    path: `v2/${repo}/blobs/uploads/`,
    scopes: pushScopes(repo),
    ...(signal ? { signal } : {}),
  });
  if (res.status !== 202) throw await failure(res, "POST", client.registry, `starting an upload to ${repo}`);
  discardBody(res.body);
  return sessionOf(res, client.registry, repo);
}

/** Checks the answer to the final `PUT` of an upload. */
async function checkCommitted(
  res: HttpResponse,
  d: Descriptor,
  registry: string,
  repo: string,
): Promise<void> {
  if (res.status !== 201 && res.status !== 204 && res.status !== 200) {
    throw await failure(res, "PUT", registry, `upload of blob ${d.digest} to ${repo}`);
  }
  discardBody(res.body);
  const said = headerValue(res.headers, "docker-content-digest");
  if (said && said !== d.digest && said.startsWith(`${digestAlgorithm(d.digest)}:`)) {
    throw new CairnError(
      "E_DIGEST_MISMATCH",
      `registry ${registry} stored blob ${d.digest} of ${repo} under digest ${said}`,
      { details: { expected: d.digest, actual: said } },
    );
  }
}

async function putWhole(
  client: RegistryClient,
  repo: string,
  session: Session,
  src: UploadSource,
  o: UploadOptions,
): Promise<void> {
  const d = src.descriptor;
  const report = progressReporter(o.onProgress, "push", d.digest, d.size);
  const res = await client.request({
    method: "PUT",
    url: withDigest(session.location, d.digest),
    headers: { "content-type": "application/octet-stream", "content-length": String(d.size) },
    body: async () => {
      const opened = await src.open();
      report(0);
      if (opened instanceof Uint8Array) return opened;
      // pipeline carries a failure of the source (e.g. its own verification) into the request
      return pipeline(opened, countingStream(report), () => undefined);
    },
    retry: false,
    scopes: pushScopes(repo),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  await checkCommitted(res, d, client.registry, repo);
}

/** Reads a stream (or bytes) in chunks of a requested size. */
class ChunkReader {
  private readonly it: AsyncIterator<Buffer> | undefined;
  private pending: Buffer;

  constructor(private readonly source: Readable | Uint8Array) {
    if (source instanceof Uint8Array) {
      this.pending = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
      this.it = undefined;
    } else {
      this.pending = Buffer.alloc(0);
      this.it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    }
  }

  /** Up to `n` bytes; fewer only at the end. */
  async read(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n) {
      if (this.pending.length === 0) {
        const next = this.it ? await this.it.next() : { done: true as const, value: undefined };
        if (next.done) break;
        this.pending = next.value;
        continue;
      }
      const take = this.pending.subarray(0, n - have);
      this.pending = this.pending.subarray(take.length);
      parts.push(take);
      have += take.length;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const b = await this.read(Math.min(left, 1 << 20));
      if (b.length === 0) return;
      left -= b.length;
    }
  }

  close(): void {
    if (!(this.source instanceof Uint8Array)) this.source.destroy();
  }
}

/** Where an upload stands: the next offset and the URL to continue at (GET on the session). */
async function uploadStatus(
  client: RegistryClient,
  repo: string,
  session: Session,
  believed: number,
  signal: AbortSignal | undefined,
): Promise<number> {
  const res = await client.request({
    method: "GET",
    url: session.location,
    scopes: pushScopes(repo),
    ...(signal ? { signal } : {}),
  });
  if (res.status !== 204 && res.status !== 200)
    throw await failure(res, "GET", client.registry, `status of an upload to ${repo}`);
  discardBody(res.body);
  if (headerValue(res.headers, "location"))
    session.location = locationOf(res, "GET upload status", client.registry);
  const range = parseUploadRange(headerValue(res.headers, "range"));
  if (!range) return 0;
  // "0-0" is what registries send both for nothing and for one byte
  if (range.end === 0) return believed === 0 ? 0 : 1;
  return range.end + 1;
}

async function putChunked(
  client: RegistryClient,
  repo: string,
  session: Session,
  src: UploadSource,
  o: UploadOptions,
): Promise<void> {
  const d = src.descriptor;
  const policy = client.retryPolicy;
  const chunkSize = Math.max(o.chunkSize ?? 0, session.minChunk ?? 0, 1);
  const report = progressReporter(o.onProgress, "push", d.digest, d.size);
  let reader = new ChunkReader(await src.open());
  let offset = 0;
  let failures = 0;
  report(0);
  try {
    while (offset < d.size) {
      const chunk = await reader.read(Math.min(chunkSize, d.size - offset));
      if (chunk.length === 0) {
        throw new CairnError(
          "E_SIZE_MISMATCH",
          `blob ${d.digest} ended after ${offset} bytes; its descriptor says ${d.size}`,
        );
      }
      let accepted = false;
      let problem: unknown;
      try {
        const res = await client.request({
          method: "PATCH",
          url: session.location,
          headers: {
            "content-type": "application/octet-stream",
            "content-length": String(chunk.length),
            "content-range": uploadContentRange(offset, chunk.length),
          },
          body: chunk,
          retry: false,
          scopes: pushScopes(repo),
          ...(o.signal ? { signal: o.signal } : {}),
        });
        if (res.status === 202) {
          discardBody(res.body);
          if (headerValue(res.headers, "location"))
            session.location = locationOf(res, "PATCH", client.registry);
          const range = parseUploadRange(headerValue(res.headers, "range"));
          accepted = !range || range.end === offset + chunk.length - 1;
        } else if (res.status === 416 || isRetryableStatus(res.status)) {
          problem = await failure(res, "PATCH", client.registry, `upload of blob ${d.digest} to ${repo}`);
        } else {
          throw await failure(res, "PATCH", client.registry, `upload of blob ${d.digest} to ${repo}`);
        }
      } catch (err) {
        if (!isTransientFailure(err)) throw err;
        problem = err;
      }
      if (accepted) {
        offset += chunk.length;
        failures = 0;
        report(offset);
        continue;
      }
      if (failures >= policy.retries) {
        throw (
          problem ??
          new CairnError(
            "E_REGISTRY",
            `registry ${client.registry} kept disagreeing about the upload of ${d.digest}`,
          )
        );
      }
      if (problem !== undefined && isTransientFailure(problem))
        await sleep(backoffDelay(failures, policy), o.signal);
      failures++;
      // resynchronise with what the registry has, then read on from there
      const next = await uploadStatus(client, repo, session, offset, o.signal);
      if (next > d.size)
        throw new CairnError(
          "E_REGISTRY",
          `registry ${client.registry} claims ${next} bytes of a ${d.size}-byte blob`,
        );
      reader.close();
      reader = new ChunkReader(await src.open());
      await reader.skip(next);
      offset = next;
      report(offset);
    }
  } finally {
    reader.close();
  }
  const res = await client.request({
    method: "PUT",
    url: withDigest(session.location, d.digest),
    headers: { "content-type": "application/octet-stream", "content-length": "0" },
    body: new Uint8Array(0),
    scopes: pushScopes(repo),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  await checkCommitted(res, d, client.registry, repo);
}

/** Cancels an upload session, ignoring failures (the spec makes cancelling optional). */
function cancel(client: RegistryClient, repo: string, session: Session): void {
  client
    .request({ method: "DELETE", url: session.location, scopes: pushScopes(repo), retry: false })
    .then((res) => discardBody(res.body))
    .catch(() => undefined);
}

/**
 * Uploads a blob unless the registry has it: a `HEAD` first, then a cross-repository mount
 * from each of `mountFrom`, then a monolithic streamed `PUT` (or chunked `PATCH`es with
 * `chunkSize`). Broken uploads are retried in a new session; chunked uploads recover from 416
 * and broken chunks by asking the session where it stands.
 *
 * @example
 * ```ts
 * await uploadBlob(client, "acme/app", { descriptor, open: () => layer.open() }, { mountFrom: ["acme/base"] })
 * ```
 */
export async function uploadBlob(
  client: RegistryClient,
  repo: string,
  src: UploadSource,
  o: UploadOptions = {},
): Promise<UploadOutcome> {
  const d = src.descriptor;
  const done = (status: "done" | "exists" | "mounted") =>
    o.onProgress?.({ direction: "push", digest: d.digest, done: d.size, total: d.size, status });
  if (
    !o.skipExistsCheck &&
    (await client.headBlob(repo, d.digest, o.signal ? { signal: o.signal } : {})) !== undefined
  ) {
    done("exists");
    return "exists";
  }
  let session: Session | undefined;
  for (const from of o.mountFrom ?? []) {
    if (from === repo) continue;
    const m = await tryMount(client, repo, d.digest, from, o.signal);
    if (m.mounted) {
      done("mounted");
      return "mounted";
    }
    if (m.session) {
      session = m.session;
      break;
    }
  }
  const policy = client.retryPolicy;
  for (let attempt = 0; ; attempt++) {
    session ??= await startSession(client, repo, o.signal);
    try {
      if (o.chunkSize !== undefined) {
        await putChunked(client, repo, session, src, o);
      } else {
        await putWhole(client, repo, session, src, o);
      }
      done("done");
      return "uploaded";
    } catch (err) {
      cancel(client, repo, session);
      session = undefined;
      if (!isTransientFailure(err) || attempt >= policy.retries) throw err;
      await sleep(backoffDelay(attempt, policy), o.signal);
    }
  }
}

/**
 * Uploads bytes held in memory (a config, a small artifact) unless the registry has them.
 *
 * @example
 * ```ts
 * await uploadBytes(client, "acme/app", configBytes, "application/vnd.oci.image.config.v1+json")
 * ```
 */
export function uploadBytes(
  client: RegistryClient,
  repo: string,
  bytes: Uint8Array,
  mediaType: string,
  o: UploadOptions = {},
): Promise<UploadOutcome> {
  const descriptor: Descriptor = { mediaType, digest: digestBytes(bytes), size: bytes.length };
  return uploadBlob(client, repo, { descriptor, open: async () => bytes }, o);
}
