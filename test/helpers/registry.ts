import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { makeTestCertificates } from "./registry-certs.js";
import { freePort, ProcessExitedError, spawnTracked, waitUntilServing } from "./registry-process.js";
import { startTokenIssuer, type TokenIssuer, type TokenIssuerOptions } from "./token-issuer.js";
import { requireTool } from "./tools.js";

/** Options of {@link startRegistry}. */
export interface RegistryOptions {
  /** `none` (default), htpasswd `basic` (bcrypt), or `token` with a {@link TokenIssuer}. */
  auth?: "none" | "basic" | "token";
  /** Serve HTTPS with a certificate from a fresh self-signed CA (see `caFile`). */
  tls?: boolean;
  /** Also require a client certificate signed by that CA (implies `tls`; see `certDir`). */
  tlsClientAuth?: boolean;
  /** `storage.delete.enabled` (default true). */
  deleteEnabled?: boolean;
  /** Basic-auth credentials (default generated); for token auth, the issuer's user. */
  username?: string;
  password?: string;
  /** Further token issuer settings for `auth: "token"` (users, anonymous, expiresIn, oauth, grant). */
  token?: Omit<TokenIssuerOptions, "users">;
}

/** A running CNCF distribution registry (Debian `docker-registry`) owned by one test file. */
export interface TestRegistry {
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  url: string;
  /** `127.0.0.1:PORT`, the registry part of image references. */
  host: string;
  /** Credentials for basic and token auth. */
  username?: string;
  password?: string;
  /** The CA that signed the server certificate, when `tls`. */
  caFile?: string;
  caPem?: string;
  /** A containers certs.d directory (`ca.crt`, `client.cert`, `client.key`) for skopeo's `--cert-dir`. */
  certDir?: string;
  /** Client certificate pair signed by the CA, when `tls`. */
  clientCertFile?: string;
  clientKeyFile?: string;
  /** The token issuer, when `auth: "token"`. */
  tokenIssuer?: TokenIssuer;
  /** The filesystem storage root (`docker/registry/v2/...` lives under it). */
  dataDir: string;
  /** The registry's recent log output (level warn). */
  logs(): string;
  /** Kills the registry (and its token issuer) and removes every temporary file. */
  stop(): Promise<void>;
}

/**
 * Basic credentials as an `Authorization` header value.
 *
 * @example
 * await fetch(`${reg.url}/v2/`, { headers: { authorization: basicAuthorization(reg.username!, reg.password!) } });
 */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

function indent(lines: string[], by: number): string {
  return lines.map((l) => " ".repeat(by) + l).join("\n");
}

interface ConfigParts {
  port: number;
  dataDir: string;
  deleteEnabled: boolean;
  tls?: { cert: string; key: string; clientCa?: string };
  auth: string[];
}

function registryConfig(c: ConfigParts): string {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(c.dataDir)}`,
    "  delete:",
    `    enabled: ${c.deleteEnabled}`,
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: 127.0.0.1:${c.port}`,
    `  secret: ${randomBytes(16).toString("hex")}`,
    "  headers:",
    "    X-Content-Type-Options: [nosniff]",
  ];
  if (c.tls) {
    lines.push(
      "  tls:",
      `    certificate: ${JSON.stringify(c.tls.cert)}`,
      `    key: ${JSON.stringify(c.tls.key)}`,
    );
    if (c.tls.clientCa) lines.push("    clientcas:", `      - ${JSON.stringify(c.tls.clientCa)}`);
  }
  if (c.auth.length > 0) lines.push("auth:", indent(c.auth, 2));
  return `${lines.join("\n")}\n`;
}

/** The environment without REGISTRY_* variables, which would override the generated config. */
function registryEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("REGISTRY_")) env[k] = v;
  return env;
}

/**
 * Starts the Debian `docker-registry` (CNCF distribution 2.8) on 127.0.0.1 with its own config in
 * a temporary directory: filesystem storage, deletes enabled, log level warn; optionally htpasswd
 * basic auth, token auth with a test token issuer, TLS from a throwaway CA. Resolves once `GET /v2/`
 * answers. Throws naming the Debian package when the binary is missing.
 *
 * @example
 * let reg: TestRegistry;
 * beforeAll(async () => { reg = await startRegistry({ auth: "basic", tls: true }); });
 * afterAll(() => reg.stop());
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const binary = requireTool("docker-registry", "docker-registry");
  const auth = options.auth ?? "none";
  const useTls = options.tls === true || options.tlsClientAuth === true;
  const dir = mkdtempSync(path.join(os.tmpdir(), "cairn-registry-"));
  const dataDir = path.join(dir, "data");
  mkdirSync(dataDir);
  let tokenIssuer: TokenIssuer | undefined;

  try {
    const certs = useTls ? makeTestCertificates(path.join(dir, "tls")) : undefined;
    let username: string | undefined;
    let password: string | undefined;
    let authConfig: string[] = [];

    if (auth === "basic") {
      username = options.username ?? `user${randomBytes(3).toString("hex")}`;
      password = options.password ?? randomBytes(12).toString("hex");
      const htpasswd = requireTool("htpasswd", "apache2-utils");
      const line = execFileSync(htpasswd, ["-nbB", username, password], { encoding: "utf8" }).trim();
      const file = path.join(dir, "htpasswd");
      writeFileSync(file, `${line}\n`);
      authConfig = ["htpasswd:", "  realm: cairn-test-registry", `  path: ${JSON.stringify(file)}`];
    } else if (auth === "token") {
      username = options.username ?? `user${randomBytes(3).toString("hex")}`;
      password = options.password ?? randomBytes(12).toString("hex");
      tokenIssuer = await startTokenIssuer({ ...options.token, users: { [username]: password } });
      authConfig = [
        "token:",
        `  realm: ${JSON.stringify(tokenIssuer.realm)}`,
        `  service: ${JSON.stringify(tokenIssuer.service)}`,
        `  issuer: ${JSON.stringify(tokenIssuer.issuer)}`,
        `  rootcertbundle: ${JSON.stringify(tokenIssuer.certFile)}`,
      ];
    }

    const configFile = path.join(dir, "config.yml");
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      writeFileSync(
        configFile,
        registryConfig({
          port,
          dataDir,
          deleteEnabled: options.deleteEnabled ?? true,
          auth: authConfig,
          tls: certs && {
            cert: certs.serverCertFile,
            key: certs.serverKeyFile,
            clientCa: options.tlsClientAuth ? certs.caFile : undefined,
          },
        }),
      );
      const proc = spawnTracked(binary, ["serve", configFile], registryEnv());
      const scheme = useTls ? "https" : "http";
      const host = `127.0.0.1:${port}`;
      try {
        await waitUntilServing(`${scheme}://${host}/v2/`, proc, {
          ca: certs?.caPem,
          cert: certs && readFileSync(certs.clientCertFile, "utf8"),
          key: certs && readFileSync(certs.clientKeyFile, "utf8"),
        });
      } catch (err) {
        await proc.stop();
        if (err instanceof ProcessExitedError && /address already in use/i.test(err.output) && attempt < 5) {
          continue;
        }
        throw err;
      }
      const issuer = tokenIssuer;
      return {
        url: `${scheme}://${host}`,
        host,
        username,
        password,
        caFile: certs?.caFile,
        caPem: certs?.caPem,
        certDir: certs?.certDir,
        clientCertFile: certs?.clientCertFile,
        clientKeyFile: certs?.clientKeyFile,
        tokenIssuer: issuer,
        dataDir,
        logs: () => proc.output(),
        stop: async () => {
          await proc.stop();
          await issuer?.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
  } catch (err) {
    await tokenIssuer?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
