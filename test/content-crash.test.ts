/**
 * A writer killed by SIGKILL at any point leaves no partial blob under blobs/ and no broken
 * index.json; gc removes what it left in the temporary directory.
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OciLayout, TEMP_DIR } from "../src/content/index.js";
import { digestOf } from "../src/digest/index.js";
import { largeBlob, largeBlobSize } from "./helpers/content-gen.js";
import { type Child, spawnContentChild } from "./helpers/content-spawn.js";

const MIB = 128;
const root = fs.mkdtempSync(path.join(tmpdir(), "cairn-crash-"));
let expected = "";

beforeAll(async () => {
  expected = await digestOf(largeBlob(MIB));
});

afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

interface Scenario {
  name: string;
  /** Kill when this returns true for an output line. */
  killOn?: (line: string) => boolean;
  /** Kill this many ms after the first chunk was produced. */
  killAfterFirstChunkMs?: number;
  /** Kill this many ms after spawning. */
  killAfterSpawnMs?: number;
  /** Whether the kill lands while the temporary file exists. */
  midWrite?: boolean;
}

const scenarios: Scenario[] = [
  { name: "right after spawning", killAfterSpawnMs: 0 },
  { name: "at the second chunk", killOn: (l) => l === "chunk 1", midWrite: true },
  { name: "half way", killOn: (l) => l === `chunk ${MIB / 2}`, midWrite: true },
  { name: "at the last chunk", killOn: (l) => l === `chunk ${MIB - 1}`, midWrite: true },
  { name: "after the source ended (fsync, rename)", killOn: (l) => l === "end" },
  { name: "150 ms into the write", killAfterFirstChunkMs: 150 },
  { name: "400 ms into the write", killAfterFirstChunkMs: 400 },
  { name: "after put returned", killOn: (l) => l.startsWith("done ") },
];

async function runScenario(dir: string, s: Scenario): Promise<Child> {
  let killed = false;
  const kill = (c: Child) => {
    if (!killed) {
      killed = true;
      c.proc.kill("SIGKILL");
    }
  };
  const child = spawnContentChild(["put-large", dir, String(MIB)], (line, c) => {
    if (s.killOn?.(line)) kill(c);
    if (line === "chunk 0" && s.killAfterFirstChunkMs !== undefined) {
      setTimeout(() => kill(c), s.killAfterFirstChunkMs);
    }
  });
  if (s.killAfterSpawnMs !== undefined) setTimeout(() => kill(child), s.killAfterSpawnMs);
  const exit = await child.exited;
  if (s.killOn || s.killAfterSpawnMs !== undefined) expect(exit.signal).toBe("SIGKILL");
  else if (exit.code !== 0 && exit.signal === null) throw new Error(`child failed: ${exit.stderr}`);
  return child;
}

async function blobNames(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const alg of await fsp.readdir(path.join(dir, "blobs")).catch(() => [])) {
    for (const f of await fsp.readdir(path.join(dir, "blobs", alg))) out.push(`${alg}:${f}`);
  }
  return out;
}

describe("SIGKILL during put", () => {
  for (const s of scenarios) {
    it(`leaves a whole blob or none when killed ${s.name}`, async () => {
      const dir = path.join(root, s.name.replace(/[^a-z0-9]+/gi, "-"));
      await OciLayout.open(dir, { create: true });
      const child = await runScenario(dir, s);

      const layout = await OciLayout.open(dir);
      const names = await blobNames(dir);
      expect(names.length).toBeLessThanOrEqual(1);
      if (names.length === 1) {
        expect(names[0]).toBe(expected);
        expect((await layout.stat(expected))?.size).toBe(largeBlobSize(MIB));
      }
      if (child.lines.some((l) => l.startsWith("done "))) expect(names).toEqual([expected]);
      const report = await layout.fsck();
      expect(report).toEqual({
        ok: true,
        missing: [],
        corrupt: [],
        unreachable: names,
        checked: names.length,
      });

      const temps = await fsp.readdir(path.join(dir, TEMP_DIR)).catch(() => []);
      if (s.midWrite) expect(temps.length).toBe(1);
      const gc = await layout.gc();
      expect(gc.tempFilesRemoved).toBe(temps.length);
      expect(gc.removed).toEqual([]); // the blob, if any, is young: kept by the grace period
      expect(await fsp.readdir(path.join(dir, TEMP_DIR)).catch(() => [])).toEqual([]);
      await fsp.rm(dir, { recursive: true, force: true });
    });
  }

  it("stores the whole blob when not killed, and a rerun after a crash completes it", async () => {
    const dir = path.join(root, "rerun");
    await OciLayout.open(dir, { create: true });
    await runScenario(dir, { name: "crash", killOn: (l) => l === "chunk 10" });
    const child = await runScenario(dir, { name: "complete" });
    expect(child.lines.at(-1)).toBe(`done ${expected}`);
    const layout = await OciLayout.open(dir);
    expect(await blobNames(dir)).toEqual([expected]);
    expect((await layout.fsck()).ok).toBe(true);
    expect((await layout.gc()).tempFilesRemoved).toBe(1);
  });

  for (const when of ["tagged 5", "tagged 40", "after 700 ms"]) {
    it(`leaves a valid index.json when a tagging writer is killed ${when}`, async () => {
      const dir = path.join(root, `tags-${when.replace(/ /g, "-")}`);
      await OciLayout.open(dir, { create: true });
      const child = spawnContentChild(["tag-loop", dir], (line, c) => {
        if (line === when) c.proc.kill("SIGKILL");
        if (line === "tagged 0" && when.startsWith("after")) setTimeout(() => c.proc.kill("SIGKILL"), 700);
      });
      expect((await child.exited).signal).toBe("SIGKILL");
      const done = child.lines.filter((l) => l.startsWith("tagged ")).length;
      expect(done).toBeGreaterThan(0);

      const layout = await OciLayout.open(dir); // index.json parses
      const tags = await layout.tags();
      for (let i = 0; i < done; i++) expect(tags).toContain(`t${i}`);
      expect(tags.length).toBeLessThanOrEqual(done + 1); // at most the one in flight
      // a lock the dead writer held is taken over at once
      const started = Date.now();
      await layout.tag("after", await layout.resolve("t0"));
      expect(Date.now() - started).toBeLessThan(2000);
      expect((await layout.fsck()).ok).toBe(true);
      await layout.gc();
      expect(await fsp.readdir(path.join(dir, TEMP_DIR))).toEqual([]);
    });
  }
});
