/**
 * Uncompressed layers are hashed once when applied (the apply's diff ID check covers the blob's
 * digest): a layout blob changed on disk, grown or cut short still fails the unpack and the
 * snapshot, with nothing left behind.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { appendLayers, emptyImage, type Image, layerFromCreated, writeLocal } from "../src/image/index.js";
import { createLayer, type LayerEntry } from "../src/layer/index.js";
import { layerForApply, SnapshotStore, unpackImage } from "../src/unionfs/index.js";
import { dir, file, openImage, tempDir } from "./helpers/union.js";

let work: string;

beforeAll(() => {
  work = tempDir("cairn-layer-for-apply-");
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

const entries: LayerEntry[] = [
  dir("data"),
  file("data/a.txt", "alpha\n"),
  file("data/b.txt", "b".repeat(300_000)),
];

/** A one-layer image in its own layout; returns it and the path of its layer blob. */
async function image(name: string, compression: "none" | "gzip"): Promise<{ img: Image; blob: string }> {
  const layout = path.join(work, name);
  const created = await createLayer(entries, {
    compression,
    tmpDir: os.tmpdir(),
    sourceDateEpoch: 1_600_000_000,
  });
  await writeLocal(await appendLayers(emptyImage(), layerFromCreated(created)), `oci:${layout}:t`);
  if (created.path) fs.rmSync(created.path, { force: true });
  const img = await openImage(`oci:${layout}:t`);
  const [layer] = await img.layers();
  const digest = layer?.descriptor.digest as string;
  return { img, blob: path.join(layout, "blobs", "sha256", digest.slice("sha256:".length)) };
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isCairnError(e)) return e.code;
    throw e;
  }
  throw new Error("expected a failure");
}

describe("layerForApply", () => {
  it("opens an uncompressed layer whose diff ID is its digest without the blob verifier, and a gzip one with it", async () => {
    const plain = await image("plain", "none");
    const [layer] = await plain.img.layers();
    const config = await plain.img.config();
    expect(config.rootfs.diff_ids[0]).toBe(layer?.descriptor.digest);
    const raw = await layerForApply(layer!, layer!.descriptor.digest);
    expect(raw).not.toHaveProperty("pipe"); // a size-checking generator, not the verifying stream
    for await (const _ of raw) {
      // drain
    }

    const zipped = await image("zipped", "gzip");
    const [gz] = await zipped.img.layers();
    const diffId = (await zipped.img.config()).rootfs.diff_ids[0];
    const verified = await layerForApply(gz!, diffId as `sha256:${string}`);
    expect(verified).toHaveProperty("pipe");
    for await (const _ of verified) {
      // drain
    }
  });

  it("an uncompressed layer unpacks, and still fails when its blob was changed, grown or cut on disk", async () => {
    const { img, blob } = await image("tamper", "none");
    const good = path.join(work, "good");
    await unpackImage(img, good);
    expect(fs.readFileSync(path.join(good, "data/a.txt"), "utf8")).toBe("alpha\n");
    const original = fs.readFileSync(blob);

    const changed = Buffer.from(original);
    const at = changed.indexOf("alpha");
    changed[at] = "A".charCodeAt(0);
    fs.chmodSync(blob, 0o644);
    fs.writeFileSync(blob, changed);
    expect(await failure(unpackImage(img, path.join(work, "changed")))).toBe("E_DIGEST_MISMATCH");
    expect(fs.existsSync(path.join(work, "changed"))).toBe(false);

    fs.writeFileSync(blob, Buffer.concat([original, Buffer.alloc(1024)]));
    expect(await failure(unpackImage(img, path.join(work, "grown")))).toMatch(/^E_(SIZE|DIGEST)_MISMATCH$/);
    expect(fs.existsSync(path.join(work, "grown"))).toBe(false);

    fs.writeFileSync(blob, original.subarray(0, original.length - 1024));
    expect(await failure(unpackImage(img, path.join(work, "cut")))).toMatch(
      /^E_(SIZE_MISMATCH|DIGEST_MISMATCH|LAYER_INVALID)$/,
    );
    expect(fs.existsSync(path.join(work, "cut"))).toBe(false);

    const store = await SnapshotStore.open(path.join(work, "snapshots"));
    fs.writeFileSync(blob, changed);
    expect(await failure(store.prepare(img))).toBe("E_DIGEST_MISMATCH");
    fs.writeFileSync(blob, original);
    const ok = await store.prepare(img);
    expect(ok.unpacked).toBe(1);
  });
});
