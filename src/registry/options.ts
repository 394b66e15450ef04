import { parseReference, type Reference } from "../reference/index.js";
import { RegistryClient, type RegistryClientOptions } from "./client.js";
import type { ProgressListener } from "./progress.js";
import type { RegistryTlsOptions } from "./tls.js";

/** Options every registry operation takes. */
export interface RegistryOptions extends RegistryClientOptions {
  /**
   * Per-registry connection settings, keyed by registry host (`localhost:5000`); they replace
   * the top-level TLS settings for that registry.
   */
  hosts?: Record<string, RegistryTlsOptions>;
  /** Use these clients for their registries instead of making new ones (shares tokens and pings). */
  clients?: readonly RegistryClient[];
  signal?: AbortSignal;
  /** Progress of each blob. */
  onProgress?: ProgressListener;
}

const TLS_KEYS = ["insecure", "plainHttp", "caFile", "ca", "certFile", "keyFile", "cert", "key"] as const;

/**
 * The client for a registry under the given options: one of `options.clients` when it serves
 * that registry, else a new one with the registry's `hosts` entry (or the top-level settings).
 *
 * @example
 * ```ts
 * const client = clientFor("localhost:5000", { hosts: { "localhost:5000": { plainHttp: true } } });
 * ```
 */
export function clientFor(
  registry: string,
  options: RegistryOptions = {},
  repository?: string,
): RegistryClient {
  const existing = options.clients?.find((c) => c.registry === registry);
  if (existing) return existing;
  const { hosts, clients: _clients, signal: _signal, onProgress: _onProgress, ...rest } = options;
  const perHost = hosts?.[registry];
  const clientOptions: RegistryClientOptions = { ...rest, ...(repository ? { repository } : {}) };
  if (perHost) {
    for (const k of TLS_KEYS) delete clientOptions[k];
    Object.assign(clientOptions, perHost);
  }
  return new RegistryClient(registry, clientOptions);
}

/**
 * A {@link Reference} from a string (parsed with docker's normalization) or a reference.
 *
 * @example
 * ```ts
 * toReference("localhost:5000/app").identifier // "latest"
 * ```
 */
export function toReference(ref: string | Reference): Reference {
  if (typeof ref !== "string") return ref;
  return parseReference(ref.startsWith("docker://") ? ref.slice("docker://".length) : ref);
}
