import { CairnError } from "../errors/index.js";

/**
 * The `code` of a Node system error (`ENOENT`, `EEXIST`…), if it has one.
 *
 * @example
 * ```ts
 * try { await fsp.stat(file) } catch (err) { if (errnoCode(err) === "ENOENT") return undefined }
 * ```
 */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/**
 * Wraps a file-system failure in `E_IO`, keeping CairnErrors as they are.
 *
 * @example
 * ```ts
 * await fsp.rename(tmp, final).catch((err) => { throw ioError(err, "storing blob", final) })
 * ```
 */
export function ioError(err: unknown, what: string, path: string): CairnError {
  if (err instanceof CairnError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new CairnError("E_IO", `${what} failed at ${path}: ${detail}`, { path, cause: err });
}

/**
 * The `E_ABORTED` error for an operation stopped by its signal.
 *
 * @example
 * ```ts
 * stream.destroy(abortedError("reading sha256:…", signal))
 * ```
 */
export function abortedError(what: string, signal?: AbortSignal): CairnError {
  return new CairnError("E_ABORTED", `${what} was aborted`, {
    cause: signal?.reason,
  });
}

/**
 * Throws `E_ABORTED` when `signal` has fired.
 *
 * @example
 * ```ts
 * throwIfAborted(options.signal, "gc")
 * ```
 */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortedError(what, signal);
}

/**
 * True for the errors Node raises when a stream or pipeline is aborted.
 *
 * @example
 * ```ts
 * if (isAbortError(err)) throw abortedError("put", signal)
 * ```
 */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || errnoCode(err) === "ABORT_ERR");
}
