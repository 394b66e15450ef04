import { createHash, createPublicKey, type KeyObject, randomBytes, sign, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { makeSigningCertificate, type SigningCertificate } from "./registry-certs.js";

/** One resource and the actions a token grants on it, as in the token's `access` claim. */
export interface TokenAccess {
  type: string;
  name: string;
  actions: string[];
}

/** Decides which of the requested actions an account gets; `account` is undefined for anonymous. */
export type GrantPolicy = (request: { account: string | undefined } & TokenAccess) => string[];

/** Options of {@link startTokenIssuer}. */
export interface TokenIssuerOptions {
  /** The `service` the registry names in its challenge and the token's `aud`. */
  service?: string;
  /** The token's `iss`. */
  issuer?: string;
  /** username -> password; default one generated user (see `username`/`password` of the issuer). */
  users?: Record<string, string>;
  /** What anonymous requests get for repositories: pull only (default) or nothing. */
  anonymous?: "pull" | "none";
  /** Lifetime of access tokens in seconds (default 300). The registry adds 60 s of leeway. */
  expiresIn?: number;
  /** Answer the OAuth2 POST form (default true); false answers it 404 like GCR, so clients fall back to GET. */
  oauth?: boolean;
  /** Replaces the default grant policy. */
  grant?: GrantPolicy;
}

/** A request the issuer answered, for assertions. */
export interface TokenRequestRecord {
  method: string;
  /** Path and query as received. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The POST form fields (OAuth2), when the request was a POST. */
  form?: Record<string, string>;
  /** The authenticated account, if any. */
  account?: string;
  status: number;
  granted: TokenAccess[];
}

/** A running token issuer; see {@link startTokenIssuer}. */
export interface TokenIssuer {
  /** The realm: `http://127.0.0.1:PORT/token`. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate the registry trusts as `rootcertbundle`. */
  certFile: string;
  certPem: string;
  /** The first configured user. */
  username: string;
  password: string;
  /** Every request answered so far, oldest first. */
  requests: TokenRequestRecord[];
  /** Signs a token directly (bypassing HTTP), e.g. to make an expired or over-privileged one. */
  mint(access: TokenAccess[], options?: { subject?: string; expiresIn?: number; issuedAt?: number }): string;
  /** Issues an OAuth2 refresh token for `username`, as `docker login` stores in `identitytoken`. */
  issueRefreshToken(username: string): string;
  /** Forgets every refresh token (they are rejected afterwards). */
  revokeRefreshTokens(): void;
  stop(): Promise<void>;
}

const USER_ACTIONS = new Set(["pull", "push", "delete", "*"]);

function defaultGrant(anonymous: "pull" | "none"): GrantPolicy {
  return ({ account, type, actions }) => {
    if (account === undefined) {
      return anonymous === "pull" && type === "repository" ? actions.filter((a) => a === "pull") : [];
    }
    if (type === "repository") return actions.filter((a) => USER_ACTIONS.has(a));
    if (type === "registry") return actions.filter((a) => a === "*");
    return [];
  };
}

/**
 * Parses `type:name:actions`; the name may itself contain ':' (a host with a port), so the type
 * ends at the first ':' and the actions start after the last.
 *
 * @example
 * parseScope("repository:localhost:5000/a:pull,push"); // { type, name: "localhost:5000/a", actions }
 */
export function parseScope(scope: string): TokenAccess | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first <= 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(",")
      .filter((a) => a !== ""),
  };
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/**
 * The libtrust key ID the 2.8 registry uses for `kid`: base32 of the first 240 bits of the SHA-256
 * of the DER SubjectPublicKeyInfo, in 12 groups of 4 characters joined by ':'.
 *
 * @example
 * libtrustKeyId(createPublicKey(pem)); // "ABCD:EFGH:..."
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  const bytes = createHash("sha256").update(der).digest().subarray(0, 30);
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)!.join(":");
}

function makeSigner(cert: SigningCertificate, issuer: string, service: string) {
  const der = new X509Certificate(cert.certPem).raw;
  const kid = libtrustKeyId(createPublicKey(cert.keyPem));
  const header = base64url(JSON.stringify({ typ: "JWT", alg: "ES256", kid, x5c: [der.toString("base64")] }));
  return (access: TokenAccess[], subject: string, expiresIn: number, issuedAt: number): string => {
    const claims = {
      iss: issuer,
      sub: subject,
      aud: service,
      exp: issuedAt + expiresIn,
      nbf: issuedAt - 1,
      iat: issuedAt,
      jti: randomBytes(12).toString("hex"),
      access,
    };
    const signingInput = `${header}.${base64url(JSON.stringify(claims))}`;
    const signature = sign("sha256", Buffer.from(signingInput), {
      key: cert.keyPem,
      dsaEncoding: "ieee-p1363",
    });
    return `${signingInput}.${base64url(signature)}`;
  };
}

function parseBasic(header: string | undefined): { user: string; pass: string } | undefined | "malformed" {
  if (header === undefined) return undefined;
  const m = /^Basic\s+(\S+)$/i.exec(header);
  if (!m) return "malformed";
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return "malformed";
  return { user: decoded.slice(0, colon), pass: decoded.slice(colon + 1) };
}

async function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error("token request body too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Starts a token issuer on 127.0.0.1 for a registry configured with `auth: token`: the docker
 * token GET (`?service=&scope=&account=&offline_token=`, Basic credentials optional) and the
 * OAuth2 POST form (`grant_type=password|refresh_token`, `access_type=offline`), both at `/token`.
 * Tokens are ES256 JWTs carrying the signing certificate in `x5c` (and its libtrust `kid`).
 *
 * @example
 * const issuer = await startTokenIssuer({ anonymous: "none" });
 * // auth.token: { realm: issuer.realm, service: issuer.service, issuer: issuer.issuer,
 * //               rootcertbundle: issuer.certFile }
 * await issuer.stop();
 */
export async function startTokenIssuer(options: TokenIssuerOptions = {}): Promise<TokenIssuer> {
  const service = options.service ?? "cairn-test-registry";
  const issuerName = options.issuer ?? "cairn-test-issuer";
  const users = options.users ?? {
    [`user${randomBytes(3).toString("hex")}`]: randomBytes(12).toString("hex"),
  };
  const [firstUser] = Object.entries(users);
  if (!firstUser) throw new Error("startTokenIssuer: `users` must name at least one user");
  const expiresIn = options.expiresIn ?? 300;
  const grant = options.grant ?? defaultGrant(options.anonymous ?? "pull");
  const oauth = options.oauth ?? true;

  const dir = mkdtempSync(path.join(os.tmpdir(), "cairn-token-issuer-"));
  const cert = makeSigningCertificate(dir);
  const signToken = makeSigner(cert, issuerName, service);
  const refreshTokens = new Map<string, string>();
  const requests: TokenRequestRecord[] = [];

  const issueRefreshToken = (username: string): string => {
    const token = `refresh-${randomBytes(16).toString("hex")}`;
    refreshTokens.set(token, username);
    return token;
  };

  const grantAll = (account: string | undefined, scopes: string[]): TokenAccess[] => {
    const granted: TokenAccess[] = [];
    for (const scope of scopes) {
      const requested = parseScope(scope);
      if (!requested) continue;
      const actions = grant({ account, ...requested });
      if (actions.length > 0) granted.push({ ...requested, actions });
    }
    return granted;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const record: TokenRequestRecord = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: { ...req.headers },
      status: 0,
      granted: [],
    };
    requests.push(record);
    const answer = (status: number, body: unknown, headers?: Record<string, string>): void => {
      record.status = status;
      sendJson(res, status, body, headers);
    };

    if (url.pathname !== "/token")
      return answer(404, { errors: [{ code: "NOT_FOUND", message: "no such path" }] });

    const now = Math.floor(Date.now() / 1000);
    const issuedAt = new Date(now * 1000).toISOString();

    if (req.method === "GET") {
      const requestedService = url.searchParams.get("service");
      if (requestedService !== null && requestedService !== service) {
        return answer(400, {
          errors: [{ code: "INVALID_SERVICE", message: `unknown service ${requestedService}` }],
        });
      }
      const creds = parseBasic(req.headers.authorization);
      if (creds === "malformed" || (creds && users[creds.user] !== creds.pass)) {
        return answer(
          401,
          { errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }] },
          { "www-authenticate": 'Basic realm="cairn-token-issuer"' },
        );
      }
      const account = creds?.user;
      record.account = account;
      const scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" "));
      record.granted = grantAll(account, scopes);
      const token = signToken(record.granted, account ?? "", expiresIn, now);
      const body: Record<string, unknown> = {
        token,
        access_token: token,
        expires_in: expiresIn,
        issued_at: issuedAt,
      };
      if (account !== undefined && url.searchParams.get("offline_token") === "true") {
        body.refresh_token = issueRefreshToken(account);
      }
      return answer(200, body);
    }

    if (req.method === "POST") {
      if (!oauth) return answer(404, { errors: [{ code: "NOT_FOUND", message: "POST not supported" }] });
      const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
      record.form = form;
      if (!form.client_id)
        return answer(400, { error: "invalid_request", error_description: "client_id missing" });
      if (form.service !== undefined && form.service !== service) {
        return answer(400, {
          error: "invalid_request",
          error_description: `unknown service ${form.service}`,
        });
      }
      let account: string | undefined;
      if (form.grant_type === "password") {
        if (form.username === undefined || users[form.username] !== form.password) {
          return answer(401, { error: "invalid_grant", error_description: "bad username or password" });
        }
        account = form.username;
      } else if (form.grant_type === "refresh_token") {
        account = form.refresh_token === undefined ? undefined : refreshTokens.get(form.refresh_token);
        if (account === undefined) {
          return answer(401, { error: "invalid_grant", error_description: "unknown refresh token" });
        }
      } else {
        return answer(400, { error: "unsupported_grant_type" });
      }
      record.account = account;
      const scopes = (form.scope ?? "").split(" ").filter((s) => s !== "");
      record.granted = grantAll(account, scopes);
      const body: Record<string, unknown> = {
        access_token: signToken(record.granted, account, expiresIn, now),
        scope: form.scope ?? "",
        expires_in: expiresIn,
        issued_at: issuedAt,
      };
      if (form.grant_type === "password" && form.access_type === "offline") {
        body.refresh_token = issueRefreshToken(account);
      }
      return answer(200, body);
    }

    return answer(
      405,
      { errors: [{ code: "UNSUPPORTED", message: `method ${req.method}` }] },
      { allow: "GET, POST" },
    );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { errors: [{ code: "UNKNOWN", message: String(err) }] });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer: issuerName,
    certFile: cert.certFile,
    certPem: cert.certPem,
    username: firstUser[0],
    password: firstUser[1],
    requests,
    mint: (access, o = {}) =>
      signToken(
        access,
        o.subject ?? "",
        o.expiresIn ?? expiresIn,
        o.issuedAt ?? Math.floor(Date.now() / 1000),
      ),
    issueRefreshToken,
    revokeRefreshTokens: () => refreshTokens.clear(),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
