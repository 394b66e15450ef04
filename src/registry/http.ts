import { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { CairnError } from "../errors/index.js";
import { abortedError, displayUrl, isAbortError } from "./errors.js";
import { headerValue, type ResponseHeaders } from "./headers.js";
import {
  backoffDelay,
  isRetryableNetworkError,
  isRetryableStatus,
  parseRetryAfter,
  type RetryOptions,
  type RetryPolicy,
  retryPolicy,
  sleep,
} from "./retry.js";
import { tlsDispatcher } from "./tls.js";

/** The methods the distribution API uses. */
export type HttpMethod = "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";

/** Opens a request body afresh, so a request can be sent again after a failure or a redirect. */
export type BodyFactory = () => Promise<Readable | Uint8Array>;

/** A request body: bytes, text, or a factory that opens a stream. */
export type RequestBody = Uint8Array | string | BodyFactory;

/** One HTTP request, before redirects and retries. */
export interface HttpRequest {
  method: HttpMethod;
  url: URL;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** An `Authorization` value sent only to `origin`: never to a redirect target elsewhere. */
  authorization?: { origin: string; value: string };
  signal?: AbortSignal;
  /** Follow 301/302/303/307/308 (default: for GET and HEAD only). */
  followRedirects?: boolean;
  /** Retry on 408/429/5xx and on broken connections (default true). */
  retry?: boolean;
}

/** An HTTP answer whose body has not been read. */
export interface HttpResponse {
  status: number;
  headers: ResponseHeaders;
  /** The URL that answered (after redirects). */
  url: URL;
  /** The body; read it or destroy it. */
  body: Readable;
}

/** What {@link HttpClientOptions.onRetry} is told before each retry. */
export interface RetryEvent {
  attempt: number;
  delayMs: number;
  /** `status 503`, `ECONNRESET`, … */
  reason: string;
  url: string;
}

/** Options for an {@link HttpClient}. */
export interface HttpClientOptions {
  /** The undici dispatcher for a URL (default: a shared agent verifying against system CAs). */
  dispatcher?: (url: URL) => Dispatcher;
  retry?: RetryOptions;
  /** `User-Agent` sent with every request. */
  userAgent?: string;
  /** Called before each retry, with why and how long the wait is. */
  onRetry?: (event: RetryEvent) => void;
}

/**
 * Lets go of a response body that will not be read: small rests are drained so the connection
 * can be reused, larger ones end the connection. Never throws or emits unhandled errors.
 *
 * @example
 * ```ts
 * discardBody(res.body);
 * ```
 */
export function discardBody(body: Readable): void {
  body.on("error", () => undefined);
  if (body.readableEnded || body.destroyed) return;
  const dump = (body as { dump?: (o?: { limit?: number }) => Promise<void> }).dump;
  if (typeof dump === "function") {
    dump.call(body, { limit: 64 * 1024 }).catch(() => undefined);
    return;
  }
  body.destroy();
}

const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/** The `User-Agent` cairn sends unless told otherwise. */
export const DEFAULT_USER_AGENT = "cairn-oci/0.1";

/**
 * HTTP over undici for the registry client: pooled connections, retries with backoff on
 * 408/429/5xx and broken connections (honouring `Retry-After`), and redirects that never carry
 * an `Authorization` header to another origin.
 *
 * @example
 * ```ts
 * const http = new HttpClient({ retry: { retries: 3 } });
 * const res = await http.send({ method: "GET", url: new URL("http://localhost:5000/v2/") });
 * discardBody(res.body);
 * ```
 */
export class HttpClient {
  private readonly dispatcher: (url: URL) => Dispatcher;
  readonly policy: RetryPolicy;
  private readonly userAgent: string;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;

  constructor(options: HttpClientOptions = {}) {
    this.dispatcher = options.dispatcher ?? (() => tlsDispatcher());
    this.policy = retryPolicy(options.retry);
    this.userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.onRetry = options.onRetry;
  }

  /**
   * Sends a request, following redirects and retrying as {@link HttpRequest} says. Answers of
   * every status are returned; only network failures and aborts throw.
   *
   * @throws CairnError `E_ABORTED`, or `E_REGISTRY` when the server cannot be reached
   */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const canRetry = req.retry !== false;
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await this.follow(req);
      } catch (err) {
        if (req.signal?.aborted || isAbortError(err))
          throw abortedError(`${req.method} ${displayUrl(req.url)}`, err);
        if (canRetry && attempt < this.policy.retries && isRetryableNetworkError(err)) {
          await this.wait(attempt, backoffDelay(attempt, this.policy), errorName(err), req);
          continue;
        }
        throw unreachable(req, err);
      }
      if (!canRetry || attempt >= this.policy.retries || !isRetryableStatus(res.status)) return res;
      const asked = parseRetryAfter(headerValue(res.headers, "retry-after"));
      if (asked !== undefined && asked > this.policy.maxRetryAfterMs) return res;
      discardBody(res.body);
      await this.wait(attempt, asked ?? backoffDelay(attempt, this.policy), `status ${res.status}`, req);
    }
  }

  private async wait(attempt: number, delayMs: number, reason: string, req: HttpRequest): Promise<void> {
    this.onRetry?.({ attempt: attempt + 1, delayMs, reason, url: displayUrl(req.url) });
    await sleep(delayMs, req.signal);
  }

  private async follow(req: HttpRequest): Promise<HttpResponse> {
    const follow = req.followRedirects ?? (req.method === "GET" || req.method === "HEAD");
    let url = req.url;
    let method = req.method;
    let body = req.body;
    for (let hops = 0; ; hops++) {
      const res = await this.once(req, method, url, body);
      const location = headerValue(res.headers, "location");
      if (!follow || !REDIRECTS.has(res.status) || location === undefined) return res;
      discardBody(res.body);
      if (hops >= MAX_REDIRECTS) {
        throw new CairnError(
          "E_REGISTRY",
          `more than ${MAX_REDIRECTS} redirects from ${displayUrl(req.url)}`,
        );
      }
      url = new URL(location, url);
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new CairnError(
          "E_REGISTRY",
          `${displayUrl(req.url)} redirected to an unsupported URL scheme ${url.protocol}`,
        );
      }
      if (res.status === 303 && method !== "HEAD") {
        method = "GET";
        body = undefined;
      }
    }
  }

  private async once(
    req: HttpRequest,
    method: HttpMethod,
    url: URL,
    body: RequestBody | undefined,
  ): Promise<HttpResponse> {
    const headers: Record<string, string> = { "user-agent": this.userAgent, ...req.headers };
    if (req.authorization && req.authorization.origin === url.origin)
      headers["authorization"] = req.authorization.value;
    const payload = typeof body === "function" ? await body() : body;
    try {
      const res = await this.dispatcher(url).request({
        origin: url.origin,
        path: url.pathname + url.search,
        method,
        headers,
        body: payload === undefined ? null : typeof payload === "string" ? payload : payloadOf(payload),
        signal: req.signal ?? null,
      });
      return { status: res.statusCode, headers: res.headers, url, body: res.body };
    } catch (err) {
      if (payload instanceof Readable && !payload.destroyed) payload.destroy();
      throw err;
    }
  }
}

function payloadOf(p: Readable | Uint8Array): Readable | Buffer {
  if (p instanceof Readable) return p;
  return Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

function errorName(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? code : err instanceof Error ? err.message : String(err);
}

function unreachable(req: HttpRequest, err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  const e = err as { code?: unknown; message?: unknown; cause?: { message?: string } };
  const code = typeof e.code === "string" ? e.code : undefined;
  const message = typeof e.message === "string" ? e.message : String(err);
  let why = code && !message.includes(code) ? `${code}: ${message}` : message;
  if (e.cause?.message && !why.includes(e.cause.message)) why += ` (${e.cause.message})`;
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(code)) {
    why += "; the TLS certificate could not be verified: give the registry's CA (caFile) or mark it insecure";
  }
  return new CairnError(
    "E_REGISTRY",
    `cannot reach ${req.url.host}: ${req.method} ${displayUrl(req.url)} failed: ${why}`,
    {
      cause: err,
      details: { url: displayUrl(req.url), ...(code ? { code } : {}) },
    },
  );
}
