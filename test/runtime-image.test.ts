/**
 * runImage: a busybox image made at test time (umoci), run as its config says over writable
 * mounts of its shared snapshots, on every adapter; concurrent containers see only their own
 * writes and share the same snapshot files.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { type Image, isImageIndex, openLocal } from "../src/image/index.js";
import { getRuntime, RUNTIME_NAMES, runImage } from "../src/runtime/index.js";
import { listMounts, SnapshotStore, unmount } from "../src/unionfs/index.js";
import { makeUmociImage } from "./helpers/images.js";
import { makeTestRootfs, requireAvailable, tempDir } from "./runtime-fixtures.js";

let work: string;
let store: SnapshotStore;
let plain: Image;
let configured: Image;

async function open(spec: string): Promise<Image> {
  const x = await openLocal(spec);
  if (isImageIndex(x)) throw new Error(`${spec} is an index`);
  return x;
}

beforeAll(async () => {
  work = tempDir("cairn-rt-image-");
  store = await SnapshotStore.open(path.join(work, "snapshots"));
  const layout = path.join(work, "layout");
  const src = makeTestRootfs(path.join(work, "src"));
  fs.mkdirSync(path.join(src, "srv"), { mode: 0o777 });
  fs.chmodSync(path.join(src, "srv"), 0o777);
  makeUmociImage(layout, "plain", src);
  execFileSync("umoci", [
    "config",
    "--image",
    `${layout}:plain`,
    "--tag",
    "configured",
    "--config.entrypoint",
    "/bin/sh",
    "--config.entrypoint",
    "-c",
    "--config.cmd",
    'echo "cmd A=$A B=$B"; pwd; id',
    "--config.workingdir",
    "/srv",
    "--config.user",
    "app",
    "--config.env",
    "B=2",
    "--config.volume",
    "/data",
  ]);
  plain = await open(`oci:${layout}:plain`);
  configured = await open(`oci:${layout}:configured`);
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe("runImage", () => {
  it("runs the image's Entrypoint + Cmd in its WorkingDir as its User with its Env", async () => {
    const r = await runImage(configured, { store });
    expect(r).toMatchObject({ exitCode: 0, signal: null, timedOut: false });
    expect(r.stdout?.toString()).toBe(
      "cmd A=1 B=2\n/srv\nuid=1000(app) gid=1000(app) groups=29(audio),50(staff)\n",
    );
    expect(RUNTIME_NAMES).toContain(r.runtime);
  });

  it("takes docker-run-like overrides: cmd, entrypoint, env, workdir, user", async () => {
    const cmd = await runImage(configured, { store, cmd: ["pwd; echo $B"] });
    expect(cmd.stdout?.toString()).toBe("/srv\n2\n");
    const entry = await runImage(configured, { store, entrypoint: ["id", "-u"] });
    expect(entry.stdout?.toString()).toBe("1000\n");
    const all = await runImage(configured, {
      store,
      entrypoint: ["sh", "-c"],
      cmd: ['echo "$B $C"; pwd; id -u'],
      env: { B: "two", C: "3" },
      workdir: "/tmp/new",
      user: "nobody",
    });
    expect(all.stdout?.toString()).toBe("two 3\n/tmp/new\n65534\n");
  });

  it("runs an image with only Cmd, and fails clearly without any command", async () => {
    const r = await runImage(plain, { store, cmd: ["sh", "-c", "echo $A; id -u; pwd"] });
    expect(r.stdout?.toString()).toBe("1\n0\n/\n");
    // umoci gave the image Cmd /bin/sh: with no stdin it exits 0 at once.
    expect((await runImage(plain, { store })).exitCode).toBe(0);
    await expect(runImage(plain, { store, entrypoint: [] })).rejects.toSatisfy((e) =>
      isCairnError(e, "E_USAGE"),
    );
  });

  it("passes exit codes, signals and stdin through", async () => {
    expect((await runImage(plain, { store, cmd: ["sh", "-c", "exit 42"] })).exitCode).toBe(42);
    const sig = await runImage(plain, { store, cmd: ["sh", "-c", "sh -c 'kill -INT $$; :'; exit $?"] });
    expect(sig).toMatchObject({ exitCode: null, signal: "SIGINT" });
    const piped = await runImage(plain, { store, cmd: ["cat"], io: { stdin: Buffer.from("in and out\n") } });
    expect(piped.stdout?.toString()).toBe("in and out\n");
  });

  it("mounts tmpfs on the image's Volumes when asked", async () => {
    const script = ["sh", "-c", "grep -c ' /data tmpfs ' /proc/mounts || true"];
    expect((await runImage(configured, { store, entrypoint: script })).stdout?.toString()).toBe("0\n");
    const r = await runImage(configured, { store, entrypoint: script, volumes: "tmpfs" });
    expect(r.stdout?.toString()).toBe("1\n");
  });

  it("cleans up after itself: no mount left, writes gone", async () => {
    const before = (await listMounts(store)).length;
    await runImage(plain, { store, cmd: ["sh", "-c", "echo x > /tmp/leftover"] });
    expect((await listMounts(store)).length).toBe(before);
    const r = await runImage(plain, {
      store,
      cmd: ["sh", "-c", "cat /tmp/leftover 2>/dev/null || echo clean"],
    });
    expect(r.stdout?.toString()).toBe("clean\n");
  });

  it("runs two containers of one image at once: own writes, shared snapshots, one unpack", async () => {
    const script = (who: string) => [
      "sh",
      "-c",
      `echo ${who} > /tmp/who; sleep 0.5; cat /tmp/who; ls /tmp; stat -c %i /bin/busybox`,
    ];
    const [a, b] = await Promise.all([
      runImage(plain, { store, cmd: script("first"), keep: true }),
      runImage(plain, { store, cmd: script("second"), keep: true }),
    ]);
    try {
      const [aOut, bOut] = [a?.stdout?.toString() ?? "", b?.stdout?.toString() ?? ""];
      expect(aOut.split("\n").slice(0, 2)).toEqual(["first", "who"]);
      expect(bOut.split("\n").slice(0, 2)).toEqual(["second", "who"]);
      const ma = a?.mount;
      const mb = b?.mount;
      if (!ma || !mb) throw new Error("keep: true must return the mounts");
      expect(ma.target).not.toBe(mb.target);
      expect(ma.lowerDirs).toEqual(mb.lowerDirs);
      expect(fs.readFileSync(path.join(ma.target, "tmp/who"), "utf8")).toBe("first\n");
      expect(fs.readFileSync(path.join(mb.target, "tmp/who"), "utf8")).toBe("second\n");
      // One snapshot on disk for the single layer, whatever the number of containers.
      expect((await store.list()).length).toBe(1);
      // As root, overlayfs shares the snapshots; a copy (the fallback without it) would not.
      if (process.getuid?.() === 0) expect(ma.method, "overlayfs should work as root here").toBe("overlay");
      if (ma.method === "overlay") {
        // The containers' busybox is the snapshot's file itself, not a copy.
        const lower = ma.lowerDirs.map((d) => path.join(d, "bin/busybox")).find((f) => fs.existsSync(f));
        if (!lower) throw new Error("busybox is in no snapshot");
        const ino = String(fs.statSync(lower).ino);
        expect(aOut.trim().split("\n").at(-1)).toBe(ino);
        expect(bOut.trim().split("\n").at(-1)).toBe(ino);
        expect(ma.upperDir).not.toBe(mb.upperDir);
      }
    } finally {
      if (a?.mount) await unmount(a.mount);
      if (b?.mount) await unmount(b.mount);
    }
  });

  it("refuses an unknown runtime name", async () => {
    await expect(runImage(plain, { store, runtime: "docker" as "runc" })).rejects.toSatisfy((e) =>
      isCairnError(e, "E_USAGE"),
    );
  });

  it.each(RUNTIME_NAMES)("runs the image with %s", async (name) => {
    await requireAvailable(getRuntime(name));
    const r = await runImage(configured, { store, runtime: name, cmd: ['echo "$B"; pwd; id -u; hostname'] });
    expect(r).toMatchObject({ runtime: name, exitCode: 0 });
    expect(r.stdout?.toString()).toBe("2\n/srv\n1000\ncairn\n");
  });
});
