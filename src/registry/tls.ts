import { readFileSync } from "node:fs";
import { Agent, type Dispatcher } from "undici";
import { CairnError } from "../errors/index.js";
import { DEFAULT_DOMAIN, DOCKER_HUB_REGISTRY_URL, isLoopbackHost } from "../reference/index.js";

/** How to reach one registry: TLS trust, client certificates, plain HTTP. */
export interface RegistryTlsOptions {
  /**
   * Like docker's `insecure-registries`: accept any TLS certificate, and fall back to plain
   * HTTP when the registry does not speak TLS.
   */
  insecure?: boolean;
  /**
   * `true` uses plain HTTP only; `false` uses HTTPS only. By default loopback registries
   * (`localhost`, `127.0.0.0/8`, `[::1]`) without TLS options use HTTP and then HTTPS, every other
   * registry HTTPS only.
   */
  plainHttp?: boolean;
  /** PEM file of the CA certificates to trust for this registry (instead of the system's). */
  caFile?: string;
  /** PEM text of the CA certificates to trust. */
  ca?: string;
  /** PEM file of a client certificate (mutual TLS), with {@link RegistryTlsOptions.keyFile}. */
  certFile?: string;
  /** PEM file of the client certificate's private key. */
  keyFile?: string;
  /** PEM text of a client certificate. */
  cert?: string;
  /** PEM text of the client certificate's private key. */
  key?: string;
}

/** True when the options name any TLS material (so the registry speaks TLS). */
function hasTlsMaterial(o: RegistryTlsOptions): boolean {
  return Boolean(o.caFile || o.ca || o.certFile || o.keyFile || o.cert || o.key);
}

/**
 * The URL schemes to try for a registry, in order (see {@link RegistryTlsOptions.plainHttp}).
 *
 * @example
 * ```ts
 * registrySchemes("localhost:5000", {}) // ["http", "https"]
 * registrySchemes("ghcr.io", {}) // ["https"]
 * registrySchemes("ghcr.io", { insecure: true }) // ["https", "http"]
 * ```
 */
export function registrySchemes(domain: string, o: RegistryTlsOptions): Array<"http" | "https"> {
  if (o.plainHttp === true) return ["http"];
  if (o.plainHttp === false || hasTlsMaterial(o)) return ["https"];
  if (o.insecure) return ["https", "http"];
  return isLoopbackHost(domain) ? ["http", "https"] : ["https"];
}

/**
 * The base URL of a registry's API for a scheme: Docker Hub (`docker.io`) is served by
 * `registry-1.docker.io`.
 *
 * @example
 * ```ts
 * registryBaseUrl("docker.io", "https") // "https://registry-1.docker.io"
 * registryBaseUrl("localhost:5000", "http") // "http://localhost:5000"
 * ```
 */
export function registryBaseUrl(domain: string, scheme: "http" | "https"): string {
  if (domain === DEFAULT_DOMAIN) return DOCKER_HUB_REGISTRY_URL;
  return `${scheme}://${domain}`;
}

const agents = new Map<string, Agent>();
let defaultAgent: Agent | undefined;

const AGENT_OPTIONS = { keepAliveTimeout: 10_000, connections: 16 } as const;

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new CairnError("E_IO", `cannot read the ${what} ${file}: ${(err as Error).message}`, {
      path: file,
      cause: err,
    });
  }
}

/**
 * The undici dispatcher for a registry's TLS options, shared between calls so connections are
 * reused. Without TLS options it is a shared default agent that verifies against the system's CAs.
 *
 * @example
 * ```ts
 * const agent = tlsDispatcher({ caFile: "/etc/cairn/ca.pem" })
 * ```
 * @throws CairnError `E_IO` when a PEM file cannot be read
 */
export function tlsDispatcher(o: RegistryTlsOptions = {}): Dispatcher {
  if (!hasTlsMaterial(o) && !o.insecure) {
    defaultAgent ??= new Agent(AGENT_OPTIONS);
    return defaultAgent;
  }
  const ca = o.ca ?? (o.caFile ? readPem(o.caFile, "CA file") : undefined);
  const cert = o.cert ?? (o.certFile ? readPem(o.certFile, "client certificate") : undefined);
  const key = o.key ?? (o.keyFile ? readPem(o.keyFile, "client key") : undefined);
  if ((cert === undefined) !== (key === undefined)) {
    throw new CairnError(
      "E_USAGE",
      "a client certificate needs both certFile (or cert) and keyFile (or key)",
    );
  }
  const cacheKey = JSON.stringify([ca ?? null, cert ?? null, key ?? null, Boolean(o.insecure)]);
  let agent = agents.get(cacheKey);
  if (!agent) {
    agent = new Agent({
      ...AGENT_OPTIONS,
      connect: {
        ...(ca !== undefined ? { ca } : {}),
        ...(cert !== undefined ? { cert } : {}),
        ...(key !== undefined ? { key } : {}),
        rejectUnauthorized: !o.insecure,
      },
    });
    agents.set(cacheKey, agent);
  }
  return agent;
}

/**
 * Closes every pooled registry connection (idle ones close by themselves after 10 s; call this
 * to end a process or a test promptly).
 *
 * @example
 * ```ts
 * afterAll(() => closeRegistryConnections())
 * ```
 */
export async function closeRegistryConnections(): Promise<void> {
  const all = [...agents.values(), ...(defaultAgent ? [defaultAgent] : [])];
  agents.clear();
  defaultAgent = undefined;
  await Promise.all(all.map((a) => a.close().catch(() => undefined)));
}
