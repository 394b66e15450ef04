import { execFile } from "node:child_process";
import { requireTool } from "./tools.js";

/** Where skopeo talks to: a {@link TestRegistry}, or a proxy plus the registry's credentials. */
export interface SkopeoEndpoint {
  url: string;
  username?: string;
  password?: string;
  /** certs.d directory with `ca.crt` (and a client pair); only for https. */
  certDir?: string;
}

/**
 * skopeo flags for one side of a command: `prefix` is `"src-"`, `"dest-"` or `""` (inspect,
 * delete). Plain http turns TLS verification off (skopeo then speaks http); https uses `certDir`.
 *
 * @example
 * skopeoFlags(reg, "dest-"); // ["--dest-creds", "u:p", "--dest-tls-verify=false"]
 */
export function skopeoFlags(endpoint: SkopeoEndpoint, prefix: "src-" | "dest-" | ""): string[] {
  const flags: string[] = [];
  if (endpoint.username !== undefined && endpoint.password !== undefined) {
    flags.push(`--${prefix}creds`, `${endpoint.username}:${endpoint.password}`);
  } else {
    flags.push(`--${prefix}no-creds`);
  }
  if (endpoint.url.startsWith("http:")) flags.push(`--${prefix}tls-verify=false`);
  else if (endpoint.certDir !== undefined) flags.push(`--${prefix}cert-dir`, endpoint.certDir);
  return flags;
}

/** The result of one skopeo run. */
export interface SkopeoResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * An auth file that does not exist: skopeo reads it as empty and, since it was named, looks at no
 * other file, so credentials of the machine running the tests never leak in.
 */
const NO_AUTH_FILE = "/nonexistent/cairn-test-auth.json";

/**
 * Runs skopeo (async, so in-process test servers keep serving) with no auth file and
 * `--insecure-policy`; resolves with its exit code and output, never rejects on a non-zero exit.
 *
 * @example
 * const r = await runSkopeo(["inspect", ...skopeoFlags(reg, ""), `docker://${reg.host}/a:1`]);
 */
export function runSkopeo(args: string[], timeoutMs = 120_000): Promise<SkopeoResult> {
  const bin = requireTool("skopeo");
  const env = { ...process.env, REGISTRY_AUTH_FILE: NO_AUTH_FILE };
  return new Promise((resolve) => {
    execFile(
      bin,
      ["--insecure-policy", ...args],
      { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * Like {@link runSkopeo} but rejects, with skopeo's stderr, unless it exits 0; resolves with stdout.
 *
 * @example
 * const tags = JSON.parse(await skopeo(["list-tags", ...skopeoFlags(reg, ""), `docker://${reg.host}/a`]));
 */
export async function skopeo(args: string[], timeoutMs?: number): Promise<string> {
  const r = await runSkopeo(args, timeoutMs);
  if (r.code !== 0) throw new Error(`skopeo ${args.join(" ")} failed (exit ${r.code}):\n${r.stderr}`);
  return r.stdout;
}

/**
 * `skopeo copy` between two transport references, with the flags of either registry side.
 *
 * @example
 * await skopeoCopy(`oci:${layout}:v1`, `docker://${reg.host}/busybox:v1`, { dest: reg });
 */
export function skopeoCopy(
  src: string,
  dest: string,
  sides: { src?: SkopeoEndpoint; dest?: SkopeoEndpoint; extra?: string[] } = {},
): Promise<string> {
  return skopeo([
    "copy",
    ...(sides.extra ?? []),
    ...(sides.src ? skopeoFlags(sides.src, "src-") : []),
    ...(sides.dest ? skopeoFlags(sides.dest, "dest-") : []),
    src,
    dest,
  ]);
}

/**
 * `skopeo inspect` of `docker://HOST/REPO:TAG`; `raw` returns the manifest bytes as text.
 *
 * @example
 * const manifest = JSON.parse(await skopeoInspect(reg, "busybox:v1", { raw: true }));
 */
export function skopeoInspect(
  endpoint: SkopeoEndpoint & { host?: string },
  repoAndRef: string,
  options: { raw?: boolean; config?: boolean } = {},
): Promise<string> {
  const host = endpoint.host ?? new URL(endpoint.url).host;
  return skopeo([
    "inspect",
    ...(options.raw ? ["--raw"] : []),
    ...(options.config ? ["--config"] : []),
    ...skopeoFlags(endpoint, ""),
    `docker://${host}/${repoAndRef}`,
  ]);
}
