import { describe, expect, it } from "vitest";
import { ImageTree } from "../src/build/index.js";
import { layerFromCreated } from "../src/image/index.js";
import { createLayer, type LayerEntry } from "../src/layer/index.js";

const EPOCH = 1_700_000_000;

function allPaths(tree: ImageTree, rel = ""): string[] {
  const out = [rel];
  for (const name of tree.list(rel)) {
    const child = rel === "" ? name : `${rel}/${name}`;
    if (tree.lstat(child)?.type === "directory") out.push(...allPaths(tree, child));
    else out.push(child);
  }
  return out;
}

async function text(tree: ImageTree, rel: string): Promise<string> {
  return (await tree.readText(rel)) ?? "<none>";
}

/** Indexes the same layers twice: read back from the blobs, and from the entries they were made of. */
async function bothWays(layers: LayerEntry[][], epoch: number | undefined) {
  const fromBlobs = new ImageTree("blobs");
  const fromEntries = new ImageTree("entries");
  for (const entries of layers) {
    const made = await createLayer(entries, epoch !== undefined ? { sourceDateEpoch: epoch } : {});
    const layer = layerFromCreated(made);
    await fromBlobs.addLayer(layer);
    expect(fromEntries.addWrittenLayer(layer, entries, epoch)).toBe(true);
  }
  return { fromBlobs, fromEntries };
}

describe("ImageTree.addWrittenLayer", () => {
  it("indexes a written layer exactly as reading it back does, and reads the same bytes", async () => {
    const lower: LayerEntry[] = [
      { path: "", type: "directory", mode: 0o755 },
      { path: "etc", type: "directory", mode: 0o750, uid: 3, gid: 4, mtime: EPOCH + 99 },
      { path: "etc/passwd", type: "file", content: "root:x:0:0::/root:/bin/sh\n", mode: 0o600, mtime: 12.75 },
      { path: "etc/old", type: "file", content: new Uint8Array([1, 2, 3]) },
      { path: "data", type: "directory" },
      { path: "data/a", type: "file", content: "a\n", uid: 1000, gid: 1000 },
      { path: "data/b", type: "hardlink", linkname: "data/a" },
      { path: "link", type: "symlink", linkname: "etc/passwd" },
      { path: "dev", type: "directory" },
      { path: "dev/null", type: "char-device", devmajor: 1, devminor: 3, mode: 0o666 },
      { path: "opaque", type: "directory" },
      { path: "opaque/gone", type: "file", content: "x" },
    ];
    const upper: LayerEntry[] = [
      { path: "etc/.wh.old", type: "file" },
      { path: "opaque/.wh..wh..opq", type: "file" },
      { path: "opaque/new", type: "file", content: "new\n" },
      { path: "data/a", type: "file", content: "replaced\n", mode: 0o644 },
      { path: "z/deep/file", type: "file", content: "deep\n" },
    ];
    for (const epoch of [EPOCH, undefined]) {
      const { fromBlobs, fromEntries } = await bothWays([lower, upper], epoch);
      const paths = allPaths(fromBlobs);
      expect(allPaths(fromEntries)).toEqual(paths);
      for (const p of paths) {
        expect(fromEntries.lstat(p), p).toEqual(fromBlobs.lstat(p));
        if (fromBlobs.lstat(p)?.type === "file")
          expect(await text(fromEntries, p), p).toBe(await text(fromBlobs, p));
      }
      expect(paths).not.toContain("etc/old");
      expect(paths).not.toContain("opaque/gone");
      expect(await text(fromEntries, "data/b")).toBe("a\n");
    }
  });

  it("declines layers with xattrs (they are read back instead)", async () => {
    const entries: LayerEntry[] = [
      { path: "f", type: "file", content: "x", xattrs: { "user.note": "hello" } },
    ];
    const layer = layerFromCreated(await createLayer(entries));
    const tree = new ImageTree("t");
    expect(tree.addWrittenLayer(layer, entries, undefined)).toBe(false);
    expect(tree.layerCount).toBe(0);
  });

  it("refuses to hand out another member's bytes when the entries do not match the blob", async () => {
    const written: LayerEntry[] = [
      { path: "a", type: "file", content: "A" },
      { path: "b", type: "file", content: "B" },
    ];
    const claimed: LayerEntry[] = [
      { path: "b", type: "file", content: "B" },
      { path: "c", type: "file", content: "C" },
    ];
    const layer = layerFromCreated(await createLayer(written));
    const tree = new ImageTree("t");
    expect(tree.addWrittenLayer(layer, claimed, undefined)).toBe(true);
    await expect(tree.readText("b")).rejects.toMatchObject({ code: "E_LAYER_INVALID" });
  });
});
