import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { appendLayers, emptyImage, layerFromSource } from "../src/image/index.js";
import { MediaType } from "../src/manifest/index.js";
import {
  closeRegistryConnections,
  type ProgressEvent,
  pull,
  push,
  resolveDigest,
} from "../src/registry/index.js";
import { startRegistry, type TestRegistry } from "./helpers/registry.js";
import { bigLayer, sha256 } from "./helpers/remote-images.js";

let reg: TestRegistry;
let tmp: string;

beforeAll(async () => {
  reg = await startRegistry();
  tmp = mkdtempSync(path.join(os.tmpdir(), "cairn-reg-stream-"));
});

afterAll(async () => {
  await closeRegistryConnections();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs `fn` while sampling the resident set size; returns the peak growth in bytes. */
async function peakRssGrowth(fn: () => Promise<void>): Promise<number> {
  globalThis.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage().rss) - base;
}

describe("streaming", () => {
  test("a 256 MiB layer is pushed and pulled with flat memory and per-blob progress", async () => {
    const size = 256 << 20;
    const image = await appendLayers(emptyImage(), await bigLayer(size, 3));
    const [layer] = await image.layers();
    const digest = layer!.descriptor.digest;
    const pushed: ProgressEvent[] = [];
    const pulled: ProgressEvent[] = [];
    const g1 = await peakRssGrowth(async () => {
      await push(image, `${reg.host}/stream/big:1`, { onProgress: (e) => pushed.push(e) });
    });
    const g2 = await peakRssGrowth(async () => {
      await pull(`${reg.host}/stream/big:1`, {
        layout: path.join(tmp, "big"),
        onProgress: (e) => pulled.push(e),
      });
    });
    // push and pull each: far below the 256 MiB that passed through
    expect(g1).toBeLessThan(64 << 20);
    expect(g2).toBeLessThan(64 << 20);
    for (const events of [pushed, pulled]) {
      const mine = events.filter((e) => e.digest === digest);
      expect(mine.length).toBeGreaterThan(2);
      expect(mine.at(-1)).toMatchObject({ done: size, total: size, status: "done" });
      const dones = mine.map((e) => e.done);
      expect(dones).toEqual([...dones].sort((a, b) => a - b));
    }
    expect(pushed[0]?.direction).toBe("push");
    expect(pulled[0]?.direction).toBe("pull");
  });

  test("an aborted push fails with E_ABORTED and the manifest is not written", async () => {
    const image = await appendLayers(emptyImage(), await bigLayer(32 << 20, 5));
    const controller = new AbortController();
    const err = await push(image, `${reg.host}/stream/aborted:1`, {
      signal: controller.signal,
      onProgress: (e) => {
        if (e.status === "progress" && e.done > 4 << 20) controller.abort();
      },
    }).catch((e) => e);
    expect(isCairnError(err, "E_ABORTED")).toBe(true);
    await expect(resolveDigest(`${reg.host}/stream/aborted:1`)).rejects.toSatisfy((e) =>
      isCairnError(e, "E_NOT_FOUND"),
    );
  });

  test("a source whose bytes do not match its descriptor fails the push instead of hanging", async () => {
    const bytes = Buffer.alloc(100_000, 1);
    const layer = layerFromSource({
      descriptor: {
        mediaType: MediaType.ociLayer,
        digest: sha256(Buffer.alloc(100_000, 2)),
        size: bytes.length,
      },
      diffId: sha256(Buffer.alloc(100_000, 2)),
      open: async () => {
        const s = new PassThrough();
        s.end(bytes);
        return s;
      },
    });
    const image = await appendLayers(emptyImage(), layer);
    const err = await push(image, `${reg.host}/stream/corrupt:1`).catch((e) => e);
    expect(isCairnError(err, "E_DIGEST_MISMATCH")).toBe(true);
  });
});
