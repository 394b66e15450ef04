import { abortedError } from "./errors.js";

/** How failed requests are retried. */
export interface RetryOptions {
  /** Attempts after the first (default 5). */
  retries?: number;
  /** Delay before the first retry, doubled each time (default 250 ms). */
  minDelayMs?: number;
  /** Longest computed delay (default 10 s). */
  maxDelayMs?: number;
  /** Longest `Retry-After` honoured; a registry asking for more fails the request (default 120 s). */
  maxRetryAfterMs?: number;
}

/** Retry settings with every default filled in. */
export type RetryPolicy = Required<RetryOptions>;

/** The defaults of {@link RetryOptions}. */
export const DEFAULT_RETRY: RetryPolicy = {
  retries: 5,
  minDelayMs: 250,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 120_000,
};

/**
 * Fills in the defaults of {@link RetryOptions}.
 *
 * @example
 * ```ts
 * retryPolicy({ retries: 0 }).minDelayMs // 250
 * ```
 */
export function retryPolicy(options: RetryOptions = {}): RetryPolicy {
  return {
    retries: options.retries ?? DEFAULT_RETRY.retries,
    minDelayMs: options.minDelayMs ?? DEFAULT_RETRY.minDelayMs,
    maxDelayMs: options.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs,
    maxRetryAfterMs: options.maxRetryAfterMs ?? DEFAULT_RETRY.maxRetryAfterMs,
  };
}

const RETRYABLE_STATUS: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/**
 * True for statuses worth another attempt: 408, 429 and the transient 5xx (500, 502, 503, 504).
 *
 * @example
 * ```ts
 * isRetryableStatus(503) // true
 * isRetryableStatus(501) // false
 * ```
 */
export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/**
 * True for network failures that a new connection may cure: resets, refused or timed-out
 * connections, sockets closed mid-answer. TLS verification failures are not among them.
 *
 * @example
 * ```ts
 * isRetryableNetworkError(Object.assign(new Error("reset"), { code: "ECONNRESET" })) // true
 * ```
 */
export function isRetryableNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && RETRYABLE_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The wait a `Retry-After` header asks for, in milliseconds: delay-seconds or an HTTP date;
 * undefined when absent or unreadable.
 *
 * @example
 * ```ts
 * parseRetryAfter("2") // 2000
 * parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", Date.parse("Wed, 21 Oct 2015 07:27:58 GMT")) // 2000
 * ```
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-zA-Z]/.test(text)) return undefined;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - now);
}

/**
 * The delay before retry number `attempt` (0 for the first retry): exponential from
 * `minDelayMs`, capped at `maxDelayMs`, with up to 25% random jitter taken off.
 *
 * @example
 * ```ts
 * backoffDelay(0, retryPolicy(), () => 0) // 250
 * backoffDelay(3, retryPolicy(), () => 0) // 2000
 * ```
 */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const base = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (1 - 0.25 * random()));
}

/**
 * Waits `ms` milliseconds, or fails with `E_ABORTED` as soon as `signal` aborts.
 *
 * @example
 * ```ts
 * await sleep(250, options.signal)
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortedError("the request", signal.reason));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError("the request", signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
