import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendLayers, emptyImage, layerFromFile, setConfig, writeLocal } from "../src/image/index.js";
import { repoRoot } from "./helpers/conformance.js";
import { makeBusyboxRootfs, tarDir } from "./helpers/images.js";
import { isRoot } from "./helpers/tools.js";

let work: string;

function cairn(args: string[], input?: string) {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", path.join(repoRoot, "src/cli/main.ts"), ...args],
    {
      cwd: repoRoot,
      encoding: "utf8",
      input: input ?? "",
      env: { ...process.env, CAIRN_HOME: path.join(work, "home") },
      timeout: 60_000,
    },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(async () => {
  if (!isRoot()) throw new Error("cairn run tests need root (runc/crun/chroot and overlay mounts)");
  work = mkdtempSync(path.join(tmpdir(), "cairn-cli-run-"));
  process.env.CAIRN_HOME = path.join(work, "home");
  const rootfs = makeBusyboxRootfs(path.join(work, "rootfs"));
  const layer = await layerFromFile(tarDir(rootfs, path.join(work, "bb.tgz")));
  const image = await setConfig(await appendLayers(emptyImage(), layer), {
    env: { PATH: "/bin", WHO: "image" },
    cmd: ["/bin/echo", "default cmd"],
  });
  await writeLocal(image, "store:cairn-test/bb:1");
});

afterAll(() => {
  delete process.env.CAIRN_HOME;
  rmSync(work, { recursive: true, force: true });
});

describe("cairn run", () => {
  it("runs the image's command, or the one given, with stdio attached", () => {
    expect(cairn(["run", "cairn-test/bb:1"])).toMatchObject({ code: 0, out: "default cmd\n" });
    expect(cairn(["run", "cairn-test/bb:1", "echo", "hello", "-n"]).out).toBe("hello -n\n");
    expect(cairn(["run", "cairn-test/bb:1", "cat"], "piped in").out).toBe("piped in");
  });

  it("passes the exit code, env, workdir and user", () => {
    expect(cairn(["run", "cairn-test/bb:1", "sh", "-c", "exit 3"]).code).toBe(3);
    expect(cairn(["run", "-e", "WHO=cli", "cairn-test/bb:1", "sh", "-c", "echo $WHO"]).out).toBe("cli\n");
    expect(cairn(["run", "-w", "/tmp", "cairn-test/bb:1", "pwd"]).out).toBe("/tmp\n");
    expect(cairn(["run", "-u", "nobody", "cairn-test/bb:1", "id", "-u"]).out).toBe("65534\n");
  });

  it("works through each runtime, with no network by default", () => {
    for (const runtime of ["runc", "crun", "bwrap", "chroot"]) {
      const r = cairn(["run", "--runtime", runtime, "cairn-test/bb:1", "cat", "/proc/net/dev"]);
      expect(r, `${runtime}: ${r.err}`).toMatchObject({ code: 0 });
      const interfaces = r.out
        .split("\n")
        .filter((l) => l.includes(":"))
        .map((l) => l.split(":")[0]?.trim());
      expect(interfaces).toEqual(["lo"]);
    }
  });

  it("fails clearly for an unknown runtime or image", () => {
    const bad = cairn(["run", "--runtime", "nope", "cairn-test/bb:1"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("unknown runtime");
    expect(cairn(["run", "store:nothing/here:1"]).code).toBe(1);
  });
});
