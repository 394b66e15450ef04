import type { Readable } from "node:stream";
import { CairnError, type CairnErrorCode } from "../errors/index.js";

/** One entry of a registry's error body: `{"errors":[{"code":"…","message":"…","detail":…}]}`. */
export interface RegistryErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

const MAX_ERROR_BODY = 64 * 1024;
const MAX_ENTRIES = 8;

/**
 * Reads the error entries from a registry's error body; anything that is not the spec's JSON
 * shape gives an empty list (the body is untrusted and may be HTML from a proxy).
 *
 * @example
 * ```ts
 * parseErrorBody('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')[0]?.code
 * ```
 */
export function parseErrorBody(text: string): RegistryErrorEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof value !== "object" || value === null) return [];
  const list = (value as { errors?: unknown }).errors;
  if (!Array.isArray(list)) return [];
  const out: RegistryErrorEntry[] = [];
  for (const e of list.slice(0, MAX_ENTRIES)) {
    if (typeof e !== "object" || e === null) continue;
    const { code, message, detail } = e as Record<string, unknown>;
    if (typeof code !== "string") continue;
    out.push({
      code: code.slice(0, 100),
      ...(typeof message === "string" ? { message: message.slice(0, 500) } : {}),
      ...(detail !== undefined ? { detail } : {}),
    });
  }
  return out;
}

/**
 * Reads at most 64 KiB of an error response body as text, then discards the rest.
 *
 * @example
 * ```ts
 * const text = await readErrorText(res.body)
 * ```
 */
export async function readErrorText(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const b = chunk as Buffer;
      if (size + b.length > MAX_ERROR_BODY) {
        chunks.push(b.subarray(0, MAX_ERROR_BODY - size));
        break;
      }
      chunks.push(b);
      size += b.length;
    }
  } catch {
    // an error body that breaks off is still worth what arrived
  } finally {
    body.on("error", () => undefined);
    body.destroy();
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Summarises error entries as `CODE: message; CODE: message`.
 *
 * @example
 * ```ts
 * describeErrors([{ code: "DENIED", message: "no" }]) // "DENIED: no"
 * ```
 */
export function describeErrors(entries: readonly RegistryErrorEntry[]): string {
  return entries.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join("; ");
}

/**
 * A URL without its query string (upload URLs carry long opaque state there).
 *
 * @example
 * ```ts
 * displayUrl(new URL("http://r/v2/a/blobs/uploads/u?_state=x")) // "http://r/v2/a/blobs/uploads/u"
 * ```
 */
export function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** What went wrong with an HTTP exchange, for {@link httpError}. */
export interface HttpFailure {
  status: number;
  method: string;
  url: URL;
  /** The registry host, e.g. `ghcr.io`. */
  registry: string;
  /** The raw error body text, if read. */
  body?: string;
  /** What the request was for, e.g. `manifest "latest" of acme/app`. */
  what?: string;
  /** Code to use instead of the one derived from the status. */
  code?: CairnErrorCode;
}

/**
 * The {@link CairnError} for an unexpected HTTP answer: `E_NOT_FOUND` for 404, `E_AUTH` for 401
 * and 403, `E_REGISTRY` otherwise, carrying the registry's error codes and messages.
 *
 * @example
 * ```ts
 * throw httpError({ status: 400, method: "PUT", url, registry: "localhost:5000", body: text })
 * ```
 */
export function httpError(f: HttpFailure): CairnError {
  const errors = f.body === undefined ? [] : parseErrorBody(f.body);
  const code: CairnErrorCode =
    f.code ??
    (f.status === 404 ? "E_NOT_FOUND" : f.status === 401 || f.status === 403 ? "E_AUTH" : "E_REGISTRY");
  const registrySays = errors.length > 0 ? `: ${describeErrors(errors)}` : plainBody(f.body);
  const subject = f.what ? `${f.what}: ` : "";
  const message =
    code === "E_NOT_FOUND"
      ? `${subject}not found on registry ${f.registry} (${f.method} ${displayUrl(f.url)} answered 404${registrySays})`
      : `${subject}registry ${f.registry} answered ${f.status} to ${f.method} ${displayUrl(f.url)}${registrySays}`;
  return new CairnError(code, message, {
    details: { status: f.status, method: f.method, url: displayUrl(f.url), registry: f.registry, errors },
  });
}

function plainBody(body: string | undefined): string {
  if (body === undefined) return "";
  const text = body.replace(/\s+/g, " ").trim();
  if (text === "" || text.startsWith("<")) return "";
  return `: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
}

/**
 * The `E_ABORTED` error for an operation cancelled through its `AbortSignal`.
 *
 * @example
 * ```ts
 * if (signal?.aborted) throw abortedError("pull of ubuntu", signal.reason)
 * ```
 */
export function abortedError(what: string, reason?: unknown): CairnError {
  return new CairnError("E_ABORTED", `${what} was aborted`, reason === undefined ? {} : { cause: reason });
}

/**
 * True when `err` comes from an abort (ours, undici's or the platform's).
 *
 * @example
 * ```ts
 * isAbortError(new DOMException("stop", "AbortError")) // true
 * ```
 */
export function isAbortError(err: unknown): boolean {
  if (err instanceof CairnError) return err.code === "E_ABORTED";
  if (typeof err !== "object" || err === null) return false;
  const e = err as { name?: unknown; code?: unknown };
  return e.name === "AbortError" || e.code === "ABORT_ERR" || e.code === "UND_ERR_ABORTED";
}
