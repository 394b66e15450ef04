import { spawn } from "node:child_process";
import { CairnError } from "../errors/index.js";

/** What a docker credential helper's `get` answers. */
export interface HelperCredentials {
  ServerURL?: string;
  Username: string;
  Secret: string;
}

/** Options for {@link runCredentialHelper}. */
export interface CredentialHelperOptions {
  env?: NodeJS.ProcessEnv;
  /** Give up after this long (default 60 s: some helpers ask the user to unlock a keychain). */
  timeoutMs?: number;
}

const MAX_OUTPUT = 1024 * 1024;

/**
 * True for helper names cairn will run as `docker-credential-NAME` (no path separators: the
 * name comes from a config file).
 *
 * @example
 * ```ts
 * isHelperName("pass") // true
 * isHelperName("../evil") // false
 * ```
 */
export function isHelperName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name);
}

/**
 * Runs `docker-credential-NAME ACTION` with `input` on stdin, as the docker CLI does, and
 * returns its stdout. `notFound` is true when the helper says it has no credentials.
 *
 * @example
 * ```ts
 * const { stdout } = await runCredentialHelper("pass", "get", "ghcr.io")
 * ```
 * @throws CairnError `E_AUTH` when the helper is missing or fails
 */
export function runCredentialHelper(
  name: string,
  action: "get" | "store" | "erase" | "list",
  input: string,
  options: CredentialHelperOptions = {},
): Promise<{ stdout: string; notFound: boolean }> {
  if (!isHelperName(name)) {
    return Promise.reject(
      new CairnError("E_AUTH", `refusing to run credential helper ${JSON.stringify(name)}: not a plain name`),
    );
  }
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], {
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new CairnError(
          "E_AUTH",
          `${program} ${action} did not answer within ${options.timeoutMs ?? 60_000} ms`,
        ),
      );
    }, options.timeoutMs ?? 60_000);
    const collect = (into: Buffer[]) => (b: Buffer) => {
      size += b.length;
      if (size <= MAX_OUTPUT) into.push(b);
    };
    child.stdout.on("data", collect(out));
    child.stderr.on("data", collect(err));
    child.stdin.on("error", () => undefined);
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === "ENOENT" ? `${program} is not installed (not found on PATH)` : e.message;
      reject(new CairnError("E_AUTH", `cannot run credential helper ${program}: ${why}`, { cause: e }));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (code === 0) {
        resolve({ stdout, notFound: false });
        return;
      }
      const said = `${stdout} ${stderr}`.trim();
      if (/credentials not found/i.test(said)) {
        resolve({ stdout, notFound: true });
        return;
      }
      reject(
        new CairnError(
          "E_AUTH",
          `credential helper ${program} ${action} failed (exit ${code}): ${said.slice(0, 300)}`,
        ),
      );
    });
    child.stdin.end(input);
  });
}

/**
 * Asks a credential helper for a registry's credentials; undefined when it has none.
 *
 * @example
 * ```ts
 * await helperGet("pass", "ghcr.io") // { Username: "me", Secret: "…" }
 * ```
 */
export async function helperGet(
  name: string,
  serverUrl: string,
  options: CredentialHelperOptions = {},
): Promise<HelperCredentials | undefined> {
  const { stdout, notFound } = await runCredentialHelper(name, "get", serverUrl, options);
  if (notFound) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(stdout);
  } catch {
    throw new CairnError("E_AUTH", `docker-credential-${name} get answered something that is not JSON`);
  }
  const v = value as Partial<Record<string, unknown>>;
  if (
    typeof v !== "object" ||
    v === null ||
    typeof v["Username"] !== "string" ||
    typeof v["Secret"] !== "string"
  ) {
    throw new CairnError(
      "E_AUTH",
      `docker-credential-${name} get answered JSON without string Username and Secret`,
    );
  }
  if (v["Secret"] === "") return undefined;
  return { Username: v["Username"], Secret: v["Secret"] };
}

/**
 * Stores credentials with a credential helper.
 *
 * @example
 * ```ts
 * await helperStore("pass", "ghcr.io", { Username: "me", Secret: "token" })
 * ```
 */
export async function helperStore(
  name: string,
  serverUrl: string,
  creds: HelperCredentials,
  options: CredentialHelperOptions = {},
): Promise<void> {
  const input = JSON.stringify({ ServerURL: serverUrl, Username: creds.Username, Secret: creds.Secret });
  await runCredentialHelper(name, "store", input, options);
}

/**
 * Erases a registry's credentials from a credential helper.
 *
 * @example
 * ```ts
 * await helperErase("pass", "ghcr.io")
 * ```
 */
export async function helperErase(
  name: string,
  serverUrl: string,
  options: CredentialHelperOptions = {},
): Promise<void> {
  await runCredentialHelper(name, "erase", serverUrl, options);
}
