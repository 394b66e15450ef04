import { existsSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planImageBuild, QUIET_MS, StoredContextDigests } from "../src/build/index.js";
import { digestBytes } from "../src/digest/index.js";
import { digestContextSource, indexContext } from "../src/dockerfile/index.js";
import { cleanup, tempDir, writeTree } from "./build-helpers.js";

let root: string;

beforeAll(() => {
  root = tempDir("ctxdigests");
});
afterAll(() => cleanup(root));

/** Sets a file's times into the past so that it counts as quiet (its ctime stays now). */
function backdate(file: string): void {
  const past = new Date(Date.now() - 60_000);
  utimesSync(file, past, past);
}

describe("context digest cache", () => {
  it("gives the digests a fresh read gives, and reads nothing again for unchanged files", async () => {
    const ctx = writeTree(path.join(root, "a"), { "x/one.txt": "one\n", "x/two.txt": "two\n" });
    const dir = path.join(root, "cache-a");
    const index = await indexContext(ctx);
    const fresh = await digestContextSource(index, "x");
    // ctime is "now": too recent to trust, so nothing is remembered yet.
    const first = await StoredContextDigests.load(dir, ctx);
    expect((await digestContextSource(index, "x", [], first)).digest).toBe(fresh.digest);
    await first.save();
    expect(existsSync(dir)).toBe(false);

    // Pretend the read happened long after the files last changed.
    const later = await StoredContextDigests.load(dir, ctx);
    for (const rel of ["x/one.txt", "x/two.txt"]) {
      const e = index.entries.get(rel);
      later.set(
        rel,
        e?.stamp as string,
        digestBytes(readFileSync(path.join(ctx, rel))),
        Date.now() + 2 * QUIET_MS,
      );
    }
    await later.save();
    const again = await StoredContextDigests.load(dir, ctx);
    expect((await digestContextSource(index, "x", [], again)).digest).toBe(fresh.digest);
    expect(again.hits).toBe(2);
    expect(again.misses).toBe(0);
  });

  it("reads a file again once its size, mtime or ctime changes, and forgets deleted files", async () => {
    const ctx = writeTree(path.join(root, "b"), { "f.txt": "aaaa\n", "g.txt": "gone\n" });
    const dir = path.join(root, "cache-b");
    const index = await indexContext(ctx);
    const cache = await StoredContextDigests.load(dir, ctx);
    for (const rel of ["f.txt", "g.txt"]) {
      const stamp = index.entries.get(rel)?.stamp as string;
      cache.set(rel, stamp, digestBytes(readFileSync(path.join(ctx, rel))), Date.now() + 2 * QUIET_MS);
    }
    await cache.save();

    // Same size, content rewritten: mtime and ctime move, so the stamp no longer matches.
    writeFileSync(path.join(ctx, "f.txt"), "bbbb\n");
    backdate(path.join(ctx, "f.txt"));
    rmSync(path.join(ctx, "g.txt"));
    const index2 = await indexContext(ctx);
    const reloaded = await StoredContextDigests.load(dir, ctx);
    const d = await digestContextSource(index2, "f.txt", [], reloaded);
    expect(d.digest).toBe((await digestContextSource(index2, "f.txt")).digest);
    expect(reloaded.hits).toBe(0);
    await reloaded.save();
    const stored = JSON.parse(readFileSync(path.join(dir, readdirSync(dir)[0] as string), "utf8"));
    expect(Object.keys(stored.entries)).toEqual([]);
  });

  it("ignores a corrupt or foreign cache file", async () => {
    const ctx = writeTree(path.join(root, "c"), { "f.txt": "data\n" });
    const dir = path.join(root, "cache-c");
    const cache = await StoredContextDigests.load(dir, ctx);
    const index = await indexContext(ctx);
    cache.set("f.txt", index.entries.get("f.txt")?.stamp as string, digestBytes("data\n"), Date.now() + 5000);
    await cache.save();
    const file = path.join(dir, readdirSync(dir)[0] as string);
    writeFileSync(file, "{not json");
    const broken = await StoredContextDigests.load(dir, ctx);
    expect(broken.get("f.txt", index.entries.get("f.txt")?.stamp as string)).toBeUndefined();
    writeFileSync(file, JSON.stringify({ version: 1, root: "/elsewhere", entries: {} }));
    const foreign = await StoredContextDigests.load(dir, ctx);
    expect(foreign.get("f.txt", index.entries.get("f.txt")?.stamp as string)).toBeUndefined();
  });

  it("a second plan of a quiet context reads no file and gives the same cache keys", async () => {
    const ctx = writeTree(path.join(root, "d"), {
      Dockerfile: "FROM scratch\nCOPY src/ /src/\n",
      "src/a.txt": "a\n",
      "src/b/c.txt": "c\n",
    });
    const store = path.join(root, "store-d");
    const first = await planImageBuild({ context: ctx, store });
    // Make the files look quiet: their ctime stays, so move the clock instead by waiting.
    await new Promise((r) => setTimeout(r, QUIET_MS + 100));
    const second = await planImageBuild({ context: ctx, store });
    const third = await planImageBuild({ context: ctx, store });
    expect(second.stages[0]?.cacheKey).toBe(first.stages[0]?.cacheKey);
    expect(third.stages[0]?.cacheKey).toBe(first.stages[0]?.cacheKey);
    const cacheDir = path.join(store, "cairn-build", "context");
    const stored = JSON.parse(readFileSync(path.join(cacheDir, readdirSync(cacheDir)[0] as string), "utf8"));
    expect(Object.keys(stored.entries).sort()).toEqual(
      ["Dockerfile", "src/a.txt", "src/b/c.txt"].filter((f) => f !== "Dockerfile"),
    );
    // Changing a file changes the key.
    writeFileSync(path.join(ctx, "src/a.txt"), "A\n");
    const changed = await planImageBuild({ context: ctx, store });
    expect(changed.stages[0]?.cacheKey).not.toBe(first.stages[0]?.cacheKey);
  });
});
