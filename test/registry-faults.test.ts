import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { appendLayers, emptyImage, ImageLayout } from "../src/image/index.js";
import {
  closeRegistryConnections,
  type ProgressEvent,
  pull,
  push,
  type RetryEvent,
  registry,
} from "../src/registry/index.js";
import { type FaultProxy, startFaultProxy } from "./helpers/fault-proxy.js";
import { startRegistry, type TestRegistry } from "./helpers/registry.js";
import { bigLayer, makeImage } from "./helpers/remote-images.js";

let reg: TestRegistry;
let basic: TestRegistry;
let proxy: FaultProxy;
let basicProxy: FaultProxy;
let tmp: string;

const fast = { retry: { minDelayMs: 20, maxDelayMs: 200 } };

beforeAll(async () => {
  [reg, basic] = await Promise.all([startRegistry(), startRegistry({ auth: "basic" })]);
  [proxy, basicProxy] = await Promise.all([startFaultProxy(reg.url), startFaultProxy(basic.url)]);
  tmp = mkdtempSync(path.join(os.tmpdir(), "cairn-reg-faults-"));
});

afterAll(async () => {
  await closeRegistryConnections();
  await Promise.all([proxy?.stop(), basicProxy?.stop()]);
  await Promise.all([reg?.stop(), basic?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

async function bigImage(size: number, seed: number) {
  return appendLayers(emptyImage(), await bigLayer(size, seed));
}

describe("faults between cairn and the registry", () => {
  test("a blob cut mid-transfer resumes with Range and the pull verifies", async () => {
    const image = await bigImage(4 << 20, 7);
    await push(image, `${reg.host}/faults/cut:1`);
    const [layer] = await image.layers();
    proxy.setRules([
      {
        method: "GET",
        path: new RegExp(`/blobs/${layer!.descriptor.digest}`),
        times: 2,
        action: "cut",
        afterBytes: 300_000,
      },
    ]);
    proxy.clearRecords();
    const result = await pull(`${proxy.host}/faults/cut:1`, { layout: path.join(tmp, "cut"), ...fast });
    expect(result.digest).toBe(await image.digest());
    const blobGets = proxy.requests.filter(
      (r) => r.method === "GET" && r.url.includes(layer!.descriptor.digest),
    );
    expect(blobGets.length).toBe(3);
    expect(blobGets[1]!.headers.range).toBe("bytes=300000-");
    expect(blobGets[2]!.headers.range).toBe("bytes=600000-");
    expect(proxy.remaining()).toEqual([0]);
  });

  test("429 with Retry-After is honoured, 503 and resets are retried", async () => {
    const image = await makeImage({ label: "retry" });
    proxy.setRules([
      { method: "POST", path: /\/blobs\/uploads\//, times: 2, action: "status", status: 503 },
      { method: "PUT", path: /\/blobs\/uploads\//, times: 1, action: "reset" },
      { method: "GET", path: /\/manifests\//, times: 1, action: "status", status: 429, retryAfter: 1 },
      { method: "GET", path: /\/blobs\//, times: 1, action: "reset" },
    ]);
    const retries: RetryEvent[] = [];
    await push(image, `${proxy.host}/faults/retry:1`, { ...fast, onRetry: (e) => retries.push(e) });
    const started = Date.now();
    const result = await pull(`${proxy.host}/faults/retry:1`, {
      layout: path.join(tmp, "retry"),
      ...fast,
      onRetry: (e) => retries.push(e),
    });
    expect(result.digest).toBe(await image.digest());
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(retries.find((r) => r.reason === "status 429")?.delayMs).toBe(1000);
    expect(retries.filter((r) => r.reason === "status 503")).toHaveLength(2);
    expect(proxy.remaining()).toEqual([0, 0, 0, 0]);
  });

  test("a blob redirected to another host gets no Authorization header", async () => {
    const auth = { username: basic.username as string, password: basic.password as string };
    const image = await makeImage({ label: "redirect" });
    await push(image, `${basic.host}/faults/redir:1`, { auth });
    basicProxy.setRules([{ method: "GET", path: /\/blobs\/sha256:/, times: 10, action: "redirect" }]);
    basicProxy.clearRecords();
    const result = await pull(`${basicProxy.host}/faults/redir:1`, {
      layout: path.join(tmp, "redir"),
      auth,
      ...fast,
    });
    expect(result.digest).toBe(await image.digest());
    expect(basicProxy.blobHost.requests.length).toBe(3);
    expect(basicProxy.blobHost.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
    expect(
      basicProxy.requests.filter((r) => r.fault === "redirect").every((r) => r.headers.authorization),
    ).toBe(true);
  });

  test("a chunked upload recovers from a 416 using the upload's Range", async () => {
    const image = await bigImage(3 << 20, 11);
    proxy.setRules([
      { method: "PATCH", path: /\/blobs\/uploads\//, times: 1, action: "status", status: 416 },
    ]);
    proxy.clearRecords();
    const events: ProgressEvent[] = [];
    await push(image, `${proxy.host}/faults/chunked:1`, {
      chunkSize: 1 << 20,
      ...fast,
      onProgress: (e) => events.push(e),
    });
    const patches = proxy.requests.filter((r) => r.method === "PATCH");
    expect(patches.map((p) => p.headers["content-range"])).toEqual([
      "0-1048575",
      "0-1048575",
      "1048576-2097151",
      "2097152-3145727",
      // the config, in one chunk
      expect.stringMatching(/^0-\d+$/),
    ]);
    expect(proxy.requests.some((r) => r.method === "GET" && r.url.includes("/blobs/uploads/"))).toBe(true);
    const back = await registry.image(`${reg.host}/faults/chunked:1`);
    expect(await back.digest()).toBe(await image.digest());
    const [layer] = await back.layers();
    const done = events.filter((e) => e.status === "done").map((e) => e.digest);
    expect(done).toContain(layer!.descriptor.digest);
  });

  test("an aborted pull fails with E_ABORTED and leaves no partial blob in the layout", async () => {
    const image = await bigImage(8 << 20, 13);
    await push(image, `${reg.host}/faults/abort:1`);
    const [layer] = await image.layers();
    const controller = new AbortController();
    const dir = path.join(tmp, "abort");
    const err = await pull(`${reg.host}/faults/abort:1`, {
      layout: dir,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.digest === layer!.descriptor.digest && e.done > 1 << 20) controller.abort();
      },
    }).catch((e) => e);
    expect(isCairnError(err, "E_ABORTED")).toBe(true);
    const layout = await ImageLayout.open(dir);
    expect(await layout.store.has(layer!.descriptor.digest)).toBe(false);
    const blobDir = path.join(dir, "blobs", "sha256");
    const blobs = existsSync(blobDir) ? readdirSync(blobDir) : [];
    expect(blobs).not.toContain(layer!.descriptor.digest.slice("sha256:".length));
    const tmpDir = path.join(dir, ".cairn-tmp");
    expect(existsSync(tmpDir) ? readdirSync(tmpDir) : []).toEqual([]);
  });
});
