import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import https from "node:https";
import { createServer } from "node:net";

/**
 * Picks a free TCP port on 127.0.0.1 (listen on 0, read the port, close). Another process may take
 * it before it is used, so callers retry on "address already in use".
 *
 * @example
 * const port = await freePort();
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills every still-running child when the test worker exits normally, even without afterAll. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of live) killGroup(child, "SIGKILL");
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Runs "$@" under a small sh watchdog (stdin is kept on fd 3 because sh gives background jobs
 * /dev/null as stdin): SIGTERM to the watchdog is passed on, and when the test
 * worker dies (even by SIGKILL) its stdin pipe closes and the watchdog stops the program, so no
 * registry outlives the tests that started it.
 */
const WATCHDOG = `
exec 3<&0
"$@" </dev/null 3<&- &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
{ cat <&3 >/dev/null; kill -TERM "$pid" 2>/dev/null; } &
wait "$pid"; code=$?
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; code=$?; done
exit "$code"
`;

/** A spawned child whose last output is kept for error messages. */
export interface TrackedProcess {
  child: ChildProcess;
  /** The last 64 KiB of stdout and stderr. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<string>;
  /** SIGTERM, then SIGKILL to the whole process group after 3 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * Spawns `bin args` with `env` in its own process group under a watchdog, keeping its output and
 * stopping it when the worker exits.
 *
 * @example
 * const proc = spawnTracked("/usr/bin/docker-registry", ["serve", configFile], process.env);
 * await proc.stop();
 */
export function spawnTracked(bin: string, args: string[], env: NodeJS.ProcessEnv): TrackedProcess {
  installExitHook();
  const child = spawn("sh", ["-c", WATCHDOG, "sh", bin, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env,
    detached: true,
  });
  live.add(child);
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString("utf8")).slice(-64 * 1024);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.stdin?.on("error", () => {});
  const exited = new Promise<string>((resolve) => {
    child.once("exit", (code, signal) => {
      live.delete(child);
      child.stdin?.destroy();
      resolve(signal ? `signal ${signal}` : `code ${code}`);
    });
    child.once("error", (err) => {
      live.delete(child);
      keep(Buffer.from(`spawn error: ${err.message}\n`));
      resolve(`spawn error ${err.message}`);
    });
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!live.has(child)) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };
  return { child, output: () => output, exited, stop };
}

/** TLS material for readiness probes: the CA, and a client pair when the server requires one. */
export interface ProbeTls {
  ca?: string;
  cert?: string;
  key?: string;
}

/** One GET of `url`; resolves with the status, or undefined when the connection fails. */
function probe(url: string, tls: ProbeTls): Promise<number | undefined> {
  return new Promise((resolve) => {
    const get = url.startsWith("https:") ? https.get : http.get;
    const req = get(url, { ...tls, timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(undefined));
  });
}

/**
 * Polls `url` until it answers one of `ready` statuses; rejects when `proc` exits first or after
 * `timeoutMs`, with the process output in the message.
 *
 * @example
 * await waitUntilServing("http://127.0.0.1:5000/v2/", proc, { ready: [200, 401] });
 */
export async function waitUntilServing(
  url: string,
  proc: TrackedProcess,
  options: ProbeTls & { ready?: number[]; timeoutMs?: number } = {},
): Promise<void> {
  const ready = options.ready ?? [200, 401];
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let exited: string | undefined;
  void proc.exited.then((how) => {
    exited = how;
  });
  for (;;) {
    if (exited !== undefined) throw new ProcessExitedError(exited, proc.output());
    const status = await probe(url, { ca: options.ca, cert: options.cert, key: options.key });
    if (status !== undefined && ready.includes(status)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `registry at ${url} did not answer ${ready.join(" or ")} in time (last: ${status}); output:\n${proc.output()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The watched process exited before it was serving; `output` tells why.
 *
 * @example
 * if (err instanceof ProcessExitedError && /address already in use/.test(err.output)) retry();
 */
export class ProcessExitedError extends Error {
  constructor(
    readonly how: string,
    readonly output: string,
  ) {
    super(`process exited (${how}) before serving; output:\n${output}`);
  }
}
