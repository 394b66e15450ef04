import { randomBytes } from "node:crypto";
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";

/** What a rule does to a matching request. */
export type FaultAction =
  /**
   * Forward; on a 2xx answer (not HEAD) send the headers, with the full Content-Length, and
   * `afterBytes` of the body, then destroy the socket. Non-2xx answers pass and do not count.
   */
  | { action: "cut"; afterBytes: number }
  /** Answer `status` without forwarding (429 gets `Retry-After: 1` unless `retryAfter` says otherwise). */
  | { action: "status"; status: number; retryAfter?: string | number | null }
  /** Destroy the connection before any answer (a connection reset). */
  | { action: "reset" }
  /**
   * Forward; on a 2xx answer drop it and redirect (307 by default) to the blob host
   * (`http://localhost:PORT2/<same path>?X-Cairn-Signature=...`), which relays from the registry
   * with the credentials of the redirected request, like a presigned storage URL. Non-2xx answers
   * (e.g. a 401 challenge) pass and do not count.
   */
  | { action: "redirect"; status?: 301 | 302 | 303 | 307 | 308 };

/** A bounded fault: applies to the next `times` requests matching `method` and `path`. */
export type FaultRule = FaultAction & {
  /** HTTP method, case-insensitive; any when absent. */
  method?: string;
  /** Tested against the request's path and query. */
  path: RegExp;
  /** How many matching requests this rule affects (then it passes them through). */
  times: number;
  /** Where the rule applies: the proxy (default) or the blob host behind its redirects. */
  at?: "proxy" | "blobHost";
};

/** A request seen by the proxy or the blob host. */
export interface RecordedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The action applied, if a rule fired. */
  fault?: FaultAction["action"];
  /** The status answered (0 when the connection was reset before an answer). */
  status?: number;
}

/** The redirect target: a second server on another host name that serves redirected blobs. */
export interface BlobHost {
  /** `http://localhost:PORT2`. */
  url: string;
  /** `localhost:PORT2`. */
  host: string;
  requests: RecordedRequest[];
}

/** A running fault proxy; see {@link startFaultProxy}. */
export interface FaultProxy {
  /** `http://127.0.0.1:PORT`: use this as the registry. */
  url: string;
  /** `127.0.0.1:PORT`. */
  host: string;
  /** Every request the proxy received, oldest first. */
  requests: RecordedRequest[];
  blobHost: BlobHost;
  /** Replaces the rules (with fresh counts). */
  setRules(rules: FaultRule[]): void;
  /** How many times each current rule can still fire, in rule order. */
  remaining(): number[];
  /** Empties `requests` and `blobHost.requests`. */
  clearRecords(): void;
  stop(): Promise<void>;
}

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** CA PEM for an `https://` target. */
  ca?: string;
  /** Answer 400 on the blob host when a request carries `Authorization`, as S3 does next to a signature (default true). */
  rejectAuthorizationOnBlobHost?: boolean;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "upgrade",
]);

function forwardHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

function errorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message, detail: null }] });
}

interface LiveRule {
  rule: FaultRule;
  left: number;
}

function validate(rules: FaultRule[]): LiveRule[] {
  return rules.map((rule) => {
    if (!Number.isInteger(rule.times) || rule.times < 1) {
      throw new Error(`fault rule for ${rule.path} needs a positive integer "times", got ${rule.times}`);
    }
    if (rule.action === "redirect" && rule.at === "blobHost") {
      throw new Error(`redirect rule for ${rule.path} applies at the proxy only`);
    }
    if (rule.action === "cut" && !(Number.isInteger(rule.afterBytes) && rule.afterBytes >= 0)) {
      throw new Error(`cut rule for ${rule.path} needs a non-negative integer "afterBytes"`);
    }
    return { rule, left: rule.times };
  });
}

async function listen(server: Server, host: string, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Starts an HTTP proxy on 127.0.0.1 in front of the registry at `target` that applies bounded
 * faults: cut a body mid-transfer, answer 429/503 (any status), reset, or redirect a blob to a
 * second host (`localhost:PORT2`) that records every request's headers. The Host header is kept,
 * so the registry's absolute `Location`s point back at the proxy.
 *
 * @example
 * const proxy = await startFaultProxy(reg.url, [
 *   { method: "GET", path: /\/blobs\/sha256:/, times: 1, action: "cut", afterBytes: 1000 },
 *   { method: "GET", path: /\/manifests\//, times: 2, action: "status", status: 429 },
 * ]);
 * // pull from proxy.host ...; then
 * expect(proxy.blobHost.requests.every((r) => !r.headers.authorization)).toBe(true);
 * await proxy.stop();
 */
export async function startFaultProxy(
  target: string,
  rules: FaultRule[] = [],
  options: FaultProxyOptions = {},
): Promise<FaultProxy> {
  const upstream = new URL(target);
  const client = upstream.protocol === "https:" ? https : http;
  const agent =
    upstream.protocol === "https:"
      ? new https.Agent({ keepAlive: true, ca: options.ca })
      : new http.Agent({ keepAlive: true });
  const rejectAuth = options.rejectAuthorizationOnBlobHost ?? true;
  let live = validate(rules);
  const requests: RecordedRequest[] = [];
  const blobRequests: RecordedRequest[] = [];
  /** signature -> Authorization of the request that was redirected (undefined: anonymous). */
  const signatures = new Map<string, string | undefined>();
  let blobPort = 0;

  const take = (req: IncomingMessage, at: "proxy" | "blobHost"): FaultRule | undefined => {
    const method = req.method ?? "";
    for (const entry of live) {
      const { rule } = entry;
      if (entry.left <= 0 || (rule.at ?? "proxy") !== at) continue;
      if (rule.method !== undefined && rule.method.toUpperCase() !== method) continue;
      rule.path.lastIndex = 0;
      if (!rule.path.test(req.url ?? "")) continue;
      return rule;
    }
    return undefined;
  };
  const consume = (rule: FaultRule): void => {
    const entry = live.find((e) => e.rule === rule);
    if (entry) entry.left--;
  };

  /** Forwards `req` upstream with `headers`; a cut or redirect `rule` fires on a 2xx answer only. */
  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    record: RecordedRequest,
    headers: OutgoingHttpHeaders,
    rule: FaultRule | undefined,
    pathAndQuery: string,
  ): void => {
    const up = client.request(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: pathAndQuery,
        headers,
        agent,
      },
      (upRes) => {
        const status = upRes.statusCode ?? 502;
        const ok = status >= 200 && status < 300;
        const outHeaders = forwardHeaders(upRes.headers);
        if (rule?.action === "redirect" && ok) {
          consume(rule);
          upRes.destroy();
          const signature = randomBytes(12).toString("hex");
          signatures.set(
            signature,
            typeof req.headers.authorization === "string" ? req.headers.authorization : undefined,
          );
          const sep = pathAndQuery.includes("?") ? "&" : "?";
          const location = `http://localhost:${blobPort}${pathAndQuery}${sep}X-Cairn-Signature=${signature}`;
          record.fault = "redirect";
          record.status = rule.status ?? 307;
          res.writeHead(record.status, { location, "content-length": 0 });
          res.end();
          return;
        }
        record.status = status;
        res.writeHead(status, outHeaders);
        if (rule?.action === "cut" && ok && req.method !== "HEAD") {
          consume(rule);
          record.fault = "cut";
          let sent = 0;
          const limit = rule.afterBytes;
          const cut = (): void => {
            upRes.destroy();
            res.socket?.destroy();
          };
          if (limit === 0) {
            res.flushHeaders();
            setImmediate(cut);
            return;
          }
          upRes.on("data", (chunk: Buffer) => {
            if (sent >= limit) return;
            const part = chunk.subarray(0, limit - sent);
            sent += part.length;
            if (sent >= limit) {
              upRes.pause();
              res.write(part, () => setImmediate(cut));
            } else {
              res.write(part);
            }
          });
          upRes.on("end", () => res.end());
          return;
        }
        upRes.pipe(res);
      },
    );
    up.on("error", (err) => {
      if (!res.headersSent) {
        record.status = 502;
        res.writeHead(502, { "content-type": "application/json" });
        res.end(errorBody("UNAVAILABLE", `fault proxy: upstream error: ${err.message}`));
      } else {
        res.destroy();
      }
    });
    req.pipe(up);
  };

  /** Applies a rule that answers without the registry; true when it answered. */
  const answerDirectly = (
    rule: FaultRule,
    req: IncomingMessage,
    res: ServerResponse,
    record: RecordedRequest,
  ) => {
    if (rule.action === "reset") {
      consume(rule);
      record.fault = "reset";
      record.status = 0;
      req.socket.destroy();
      return true;
    }
    if (rule.action === "status") {
      consume(rule);
      record.fault = "status";
      record.status = rule.status;
      const code = rule.status === 429 ? "TOOMANYREQUESTS" : rule.status >= 500 ? "UNAVAILABLE" : "UNKNOWN";
      const body = errorBody(code, `fault proxy: injected ${rule.status}`);
      const headers: OutgoingHttpHeaders = {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
      };
      const retryAfter = rule.retryAfter === undefined ? (rule.status === 429 ? "1" : null) : rule.retryAfter;
      if (retryAfter !== null) headers["retry-after"] = String(retryAfter);
      req.resume();
      res.writeHead(rule.status, headers);
      res.end(req.method === "HEAD" ? undefined : body);
      return true;
    }
    return false;
  };

  const record = (req: IncomingMessage, into: RecordedRequest[]): RecordedRequest => {
    const r: RecordedRequest = { method: req.method ?? "", url: req.url ?? "", headers: { ...req.headers } };
    into.push(r);
    return r;
  };

  const proxyServer = http.createServer((req, res) => {
    const rec = record(req, requests);
    const rule = take(req, "proxy");
    if (rule && answerDirectly(rule, req, res, rec)) return;
    const headers = forwardHeaders(req.headers);
    headers["x-forwarded-proto"] = "http";
    forward(req, res, rec, headers, rule, req.url ?? "/");
  });

  const blobServer = http.createServer((req, res) => {
    const rec = record(req, blobRequests);
    const url = new URL(req.url ?? "/", "http://localhost");
    const signature = url.searchParams.get("X-Cairn-Signature");
    const deny = (status: number, code: string, message: string): void => {
      rec.status = status;
      req.resume();
      res.writeHead(status, { "content-type": "application/json" });
      res.end(errorBody(code, message));
    };
    if (req.method !== "GET" && req.method !== "HEAD")
      return deny(405, "UNSUPPORTED", "blob host: GET/HEAD only");
    if (signature === null || !signatures.has(signature))
      return deny(403, "DENIED", "blob host: bad signature");
    if (rejectAuth && req.headers.authorization !== undefined) {
      return deny(400, "INVALID_ARGUMENT", "blob host: Authorization header next to a signature");
    }
    const rule = take(req, "blobHost");
    if (rule && answerDirectly(rule, req, res, rec)) return;
    url.searchParams.delete("X-Cairn-Signature");
    const headers = forwardHeaders(req.headers);
    headers.host = upstream.host;
    delete headers.authorization;
    const credentials = signatures.get(signature);
    if (credentials !== undefined) headers.authorization = credentials;
    forward(
      req,
      res,
      rec,
      headers,
      rule?.action === "redirect" ? undefined : rule,
      url.pathname + url.search,
    );
  });

  const port = await listen(proxyServer, "127.0.0.1");
  blobPort = await listen(blobServer, "127.0.0.1");
  // Where `localhost` resolves to ::1 first, serve there too so clients reach the blob host.
  const blobServer6 = http.createServer((req, res) => blobServer.emit("request", req, res));
  const blob6Listening = await listen(blobServer6, "::1", blobPort).then(
    () => true,
    () => false,
  );

  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    blobHost: { url: `http://localhost:${blobPort}`, host: `localhost:${blobPort}`, requests: blobRequests },
    setRules: (next) => {
      live = validate(next);
    },
    remaining: () => live.map((e) => e.left),
    clearRecords: () => {
      requests.length = 0;
      blobRequests.length = 0;
    },
    stop: async () => {
      await Promise.all([
        close(proxyServer),
        close(blobServer),
        blob6Listening ? close(blobServer6) : undefined,
      ]);
      agent.destroy();
    },
  };
}
