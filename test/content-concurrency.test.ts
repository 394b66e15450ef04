/**
 * Many writers, in several processes, putting overlapping blobs and tags into one layout; the
 * index.json lock and its stale-lock takeover.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { acquireFileLock, INDEX_FILE, INDEX_LOCK_FILE, OciLayout, TEMP_DIR } from "../src/content/index.js";
import { digestBytes } from "../src/digest/index.js";
import { isCairnError } from "../src/errors/index.js";
import { SET_SIZE, setBlob, writerBlobs } from "./helpers/content-gen.js";
import { spawnContentChild } from "./helpers/content-spawn.js";

const root = fs.mkdtempSync(path.join(tmpdir(), "cairn-concurrency-"));
let counter = 0;
let dir = "";

beforeEach(() => {
  dir = path.join(root, `t${counter++}`);
});

afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function deadPid(): number {
  return Number(
    execFileSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }),
  );
}

async function writeLock(info: unknown, ageMs = 0): Promise<string> {
  const lockPath = path.join(dir, INDEX_LOCK_FILE);
  await fsp.writeFile(lockPath, typeof info === "string" ? info : JSON.stringify(info));
  if (ageMs > 0) {
    const then = new Date(Date.now() - ageMs);
    await fsp.utimes(lockPath, then, then);
  }
  return lockPath;
}

const lockInfo = (pid: number, host = hostname()) => ({
  pid,
  hostname: host,
  createdAt: new Date().toISOString(),
  token: "someone-elses",
});

describe("four processes writing one layout", () => {
  it("end with every blob and tag, a valid index.json and a clean fsck", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const startAt = Date.now() + 2500;
    const children = [0, 1, 2, 3].map((w) => spawnContentChild(["writer", dir, String(w), String(startAt)]));
    // gc runs alongside the writers: its grace period must keep their not-yet-tagged blobs.
    const gcs: Promise<unknown>[] = [];
    const gcTimer = setInterval(() => gcs.push(layout.gc()), 150);
    const exits = await Promise.all(children.map((c) => c.exited));
    clearInterval(gcTimer);
    await Promise.all(gcs);
    for (const [w, exit] of exits.entries()) {
      expect(exit.stderr, `writer ${w}`).toBe("");
      expect(exit.code, `writer ${w}`).toBe(0);
      expect(children[w]!.lines).toEqual(["done"]);
    }

    for (let k = 0; k < SET_SIZE; k++) expect(await layout.has(digestBytes(setBlob(k)))).toBe(true);
    const index = JSON.parse(await fsp.readFile(path.join(dir, INDEX_FILE), "utf8"));
    expect(index.schemaVersion).toBe(2);
    const tags = await layout.tags();
    const expectedTags = new Set(["shared"]);
    for (let w = 0; w < 4; w++) {
      for (const k of writerBlobs(w)) {
        expectedTags.add(`w${w}-k${k}`);
        expectedTags.add(`shared-k${k}`);
      }
    }
    expect(tags.length).toBe(expectedTags.size); // no name twice
    expect(new Set(tags)).toEqual(expectedTags);
    for (let k = 0; k < SET_SIZE; k++) {
      expect((await layout.resolve(`shared-k${k}`)).digest).toBe(digestBytes(setBlob(k)));
    }
    const report = await layout.fsck();
    expect(report).toEqual({ ok: true, missing: [], corrupt: [], unreachable: [], checked: SET_SIZE });
    expect(fs.existsSync(path.join(dir, INDEX_LOCK_FILE))).toBe(false);
    expect(await fsp.readdir(path.join(dir, TEMP_DIR))).toEqual([]);
  });
});

describe("the index.json lock", () => {
  it("is taken over from a holder killed with SIGKILL", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const child = spawnContentChild(["hold-lock", dir], (line, c) => {
      if (line === "locked") c.proc.kill("SIGKILL");
    });
    const exit = await child.exited;
    expect(exit.signal).toBe("SIGKILL");
    expect(fs.existsSync(path.join(dir, INDEX_LOCK_FILE))).toBe(true);
    const desc = await layout.put("after the crash");
    const started = Date.now();
    await layout.tag("survivor", desc);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await layout.tags()).toEqual(["survivor"]);
    expect(fs.existsSync(path.join(dir, INDEX_LOCK_FILE))).toBe(false);
  });

  it("never exists without its holder's pid and token (a holder killed at any moment leaves no empty lock)", async () => {
    await OciLayout.open(dir, { create: true });
    const lockPath = path.join(dir, INDEX_LOCK_FILE);
    let tagged = 0;
    const child = spawnContentChild(["tag-loop", dir], (line) => {
      if (line.startsWith("tagged ")) tagged++;
    });
    let seen = 0;
    const unreadable: string[] = [];
    const until = Date.now() + 1500;
    while (Date.now() < until || tagged < 20) {
      let raw: string;
      try {
        raw = fs.readFileSync(lockPath, "utf8");
      } catch {
        await new Promise((r) => setImmediate(r));
        continue;
      }
      seen++;
      try {
        const info = JSON.parse(raw) as { pid?: unknown; token?: unknown };
        if (typeof info.pid !== "number" || typeof info.token !== "string") unreadable.push(raw);
      } catch {
        unreadable.push(raw);
      }
      if (seen % 64 === 0) await new Promise((r) => setImmediate(r));
    }
    child.proc.kill("SIGKILL");
    await child.exited;
    expect(seen).toBeGreaterThan(0);
    expect(unreadable).toEqual([]);
  });

  it("staged on another file system (no hard link across), is created in place", async () => {
    const lockPath = path.join(root, `xdev-${counter}.lock`);
    const staging = fs.mkdtempSync("/dev/shm/cairn-lock-staging-");
    try {
      expect(fs.statSync(staging).dev).not.toBe(fs.statSync(root).dev);
      const lock = await acquireFileLock(lockPath, { stagingDir: staging });
      expect(JSON.parse(await fsp.readFile(lockPath, "utf8"))).toMatchObject({
        pid: process.pid,
        token: lock.info.token,
      });
      expect(fs.readdirSync(staging)).toEqual([]);
      await lock.release();
      expect(fs.existsSync(lockPath)).toBe(false);
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  });

  it("is taken over when its holder's pid is dead on this host", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    await writeLock(lockInfo(deadPid()));
    await layout.tag("t", await layout.put("x"));
    expect(await layout.tags()).toEqual(["t"]);
  });

  it("is taken over when it names this process but not a lock it holds (pid reuse)", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    await writeLock(lockInfo(process.pid));
    await layout.tag("t", await layout.put("x"));
    expect(await layout.tags()).toEqual(["t"]);
  });

  it("waits for a live holder and fails with E_LOCKED after the deadline", async () => {
    const layout = await OciLayout.open(dir, { create: true, lock: { timeoutMs: 300 } });
    const desc = await layout.put("x");
    const cases = [lockInfo(process.ppid), lockInfo(1, "another-host"), "{half-written"];
    for (const info of cases) {
      const lockPath = await writeLock(info);
      const started = Date.now();
      const err = await layout.tag("t", desc).catch((e: unknown) => e);
      expect(isCairnError(err, "E_LOCKED"), String(err)).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(fs.existsSync(lockPath)).toBe(true);
      // once untouched for longer than the stale threshold, the lock is taken over
      await writeLock(info, 60_000);
      await layout.tag("t", desc);
      expect(fs.existsSync(lockPath)).toBe(false);
    }
    expect(await layout.tags()).toEqual(["t"]);
  });

  it("is released to the next waiter, and a held lock is refreshed, not broken", async () => {
    const lockPath = path.join(root, `lock-${counter}`);
    const first = await acquireFileLock(lockPath, { staleMs: 1000 });
    const order: string[] = [];
    const second = acquireFileLock(lockPath, { staleMs: 1000, timeoutMs: 10_000 }).then((l) => {
      order.push("second");
      return l;
    });
    // longer than staleMs: the heartbeat keeps the first lock fresh
    await new Promise((r) => setTimeout(r, 2000));
    order.push("first released");
    await first.release();
    const lock = await second;
    expect(order).toEqual(["first released", "second"]);
    expect(JSON.parse(await fsp.readFile(lockPath, "utf8"))).toMatchObject({
      pid: process.pid,
      hostname: hostname(),
    });
    await lock.release();
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  it("stops waiting with E_ABORTED", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const desc = await layout.put("x");
    await writeLock(lockInfo(process.ppid));
    const err = await layout.tag("t", desc, { signal: AbortSignal.timeout(100) }).catch((e: unknown) => e);
    expect(isCairnError(err, "E_ABORTED")).toBe(true);
  });
});
