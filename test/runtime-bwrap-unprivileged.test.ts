/**
 * bwrap as an unprivileged user: a child node process, dropped to nobody (65534) with setpriv,
 * runs the adapter through its own user namespace. Needs the kernel to allow unprivileged user
 * namespaces; when it does not, the test fails and says why.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { userNamespacesBlocked } from "../src/runtime/index.js";
import { requireTool } from "./helpers/tools.js";
import { makeTestRootfs, tempDir } from "./runtime-fixtures.js";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const NOBODY = 65534;
let work: string;
let rootfs: string;
let report: Record<string, unknown>;

const CHILD = `
import { BwrapRuntime } from ${JSON.stringify(pathToFileURL(path.join(repo, "src/runtime/index.ts")).href)};
const rootfs = process.argv[2];
const rt = new BwrapRuntime();
const out = { uid: process.getuid(), available: await rt.available() };
const text = (r) => ({ exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, stdout: r.stdout?.toString(), stderr: r.stderr?.toString() });
const run = async (spec, io) => { try { return text(await rt.run({ rootfs, ...spec }, io)); } catch (e) { return { error: e.code ?? String(e), message: e.message }; } };
out.root = await run({ args: ["sh", "-c", "id -u; id -g; echo $$; hostname"] });
out.app = await run({ args: ["sh", "-c", "id -u; id -g; echo hi > /tmp/unpriv-app"], user: "app" });
out.exit = await run({ args: ["sh", "-c", "echo err >&2; exit 7"] });
out.stdin = await run({ args: ["cat"] }, { stdin: Buffer.from("piped\\n") });
out.net = await run({ args: ["sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"] });
out.timeout = await run({ args: ["sh", "-c", "sleep 4100 & sleep 4100"], timeoutMs: 1000 });
out.caps = await run({ args: ["grep", "CapEff", "/proc/self/status"] });
console.log(JSON.stringify(out));
`;

beforeAll(() => {
  requireTool("setpriv", "util-linux");
  work = tempDir("cairn-rt-unpriv-");
  // As a rootless unpack leaves it: owned by the caller.
  rootfs = makeTestRootfs(path.join(work, "rootfs"));
  execFileSync("chown", ["-R", `${NOBODY}:${NOBODY}`, rootfs]);
  const script = path.join(work, "child.mjs");
  fs.writeFileSync(script, CHILD);
  fs.chmodSync(script, 0o644);
  const blocked = userNamespacesBlocked();
  if (blocked) throw new Error(`unprivileged bwrap cannot run here: ${blocked}`);
  const stdout = execFileSync(
    "setpriv",
    [
      "--reuid",
      String(NOBODY),
      "--regid",
      String(NOBODY),
      "--clear-groups",
      "--",
      process.execPath,
      "--import",
      "tsx",
      script,
      rootfs,
    ],
    { cwd: repo, encoding: "utf8", env: { PATH: process.env.PATH ?? "", HOME: work }, timeout: 60_000 },
  );
  report = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, unknown>;
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("bwrap as an unprivileged user", () => {
  it("runs as nobody and is available, noting its limits", () => {
    expect(report.uid).toBe(NOBODY);
    expect(report.available).toMatchObject({ ok: true });
    expect(JSON.stringify(report.available)).toContain("supplementary groups");
  });

  it("maps the caller to the container's root, in its own pid and uts namespaces", () => {
    expect(report.root).toMatchObject({ exitCode: 0, stdout: "0\n0\n1\ncairn\n" });
  });

  it("maps the caller to another container user; files belong to the caller on the host", () => {
    expect(report.app).toMatchObject({ exitCode: 0, stdout: "1000\n1000\n" });
    const st = fs.statSync(path.join(rootfs, "tmp/unpriv-app"));
    expect([st.uid, st.gid]).toEqual([NOBODY, NOBODY]);
  });

  it("reports exit codes, stderr and stdin like the privileged adapters", () => {
    expect(report.exit).toMatchObject({ exitCode: 7, stderr: "err\n", stdout: "" });
    expect(report.stdin).toMatchObject({ exitCode: 0, stdout: "piped\n" });
  });

  it("has only loopback with network none", () => {
    expect(report.net).toMatchObject({ exitCode: 0, stdout: "lo\n" });
  });

  it("kills the whole container on timeout", () => {
    expect(report.timeout).toMatchObject({ timedOut: true, signal: "SIGKILL" });
    const left = execFileSync("sh", ["-c", "pgrep -f '^sleep 4100$' || true"], { encoding: "utf8" });
    expect(left.trim()).toBe("");
  });

  it("gives the container's root the default capabilities inside its user namespace", () => {
    expect(report.caps).toMatchObject({ exitCode: 0, stdout: "CapEff:\t00000000a80425fb\n" });
  });
});
