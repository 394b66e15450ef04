/**
 * Shared set-up for the build tests: temporary stores and contexts, a busybox base image made
 * at test time, and ways to look inside built images (cairn's own index and umoci's unpack).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { lstat, readFile, readlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  type BuildOptions,
  type BuildProgressEvent,
  type BuildResult,
  build,
  ImageTree,
} from "../src/build/index.js";
import { type Image, ImageLayout } from "../src/image/index.js";
import type { ImageConfig } from "../src/manifest/index.js";
import { makeBusyboxRootfs, makeUmociImage } from "./helpers/images.js";
import { requireTool } from "./helpers/tools.js";

/** A scratch directory removed by {@link cleanup}. */
export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `cairn-build-${prefix}-`));
}

/** Writes files (`{ "a/b.txt": "text" }`) under `dir`; a value `{ mode }` sets the mode. */
export function writeTree(
  dir: string,
  files: Record<string, string | { data: string; mode: number }>,
): string {
  for (const [rel, v] of Object.entries(files)) {
    const p = path.join(dir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    if (typeof v === "string") writeFileSync(p, v);
    else {
      writeFileSync(p, v.data);
      execFileSync("chmod", [v.mode.toString(8), p]);
    }
  }
  return dir;
}

/** A busybox image in an OCI layout (made by umoci); returns `oci:DIR:busybox`. */
export function busyboxLayout(root: string, extraPasswd = ""): string {
  const rootfs = makeBusyboxRootfs(path.join(root, "rootfs"));
  if (extraPasswd) {
    writeFileSync(
      path.join(rootfs, "etc/passwd"),
      `root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n${extraPasswd}`,
    );
    writeFileSync(path.join(rootfs, "etc/group"), "root:x:0:\nnogroup:x:65534:\nstaff:x:50:\napp:x:1000:\n");
  }
  makeUmociImage(path.join(root, "layout"), "busybox", rootfs);
  return `oci:${path.join(root, "layout")}:busybox`;
}

/** Collects progress events of a build. */
export function recorder(): { events: BuildProgressEvent[]; onProgress: (e: BuildProgressEvent) => void } {
  const events: BuildProgressEvent[] = [];
  return { events, onProgress: (e) => events.push(e) };
}

/** Names of the vertices that started and whether each was cached. */
export function vertices(events: BuildProgressEvent[]): Array<{ name: string; cached: boolean }> {
  const names = new Map<number, string>();
  const out: Array<{ name: string; cached: boolean }> = [];
  for (const e of events) {
    if (e.kind === "vertex-start") names.set(e.id, e.name);
    if (e.kind === "vertex-done") out.push({ name: names.get(e.id) ?? "?", cached: e.cached });
  }
  return out;
}

/** Builds `dockerfile` in `context` with a store of its own. */
export async function buildText(
  dockerfile: string,
  context: string,
  store: string,
  options: Partial<BuildOptions> = {},
): Promise<BuildResult> {
  return build({ context, dockerfileText: dockerfile, store, registry: false, ...options });
}

/** The merged root filesystem of an image, as cairn indexes it. */
export async function treeOf(image: Image): Promise<ImageTree> {
  return ImageTree.fromLayers(await image.layers(), "test image");
}

/** A file's text in an image. */
export async function fileText(image: Image, rel: string): Promise<string | undefined> {
  const tree = await treeOf(image);
  try {
    return await tree.readText(rel);
  } finally {
    await tree.close();
  }
}

/** The image's config. */
export async function configOf(image: Image): Promise<ImageConfig> {
  return image.config();
}

/** What one path of an unpacked rootfs is: type, octal mode, owner, link target, content. */
export interface UnpackedNode {
  type: "file" | "dir" | "symlink" | "other";
  mode: string;
  owner: string;
  link?: string;
  text?: string;
}

/** Unpacks `oci:DIR:TAG` with `umoci unpack` and describes `paths` in it. */
export async function umociUnpack(
  layoutDir: string,
  tag: string,
  paths: string[],
): Promise<Record<string, UnpackedNode | undefined>> {
  requireTool("umoci");
  const bundle = tempDir("umoci");
  try {
    rmSync(bundle, { recursive: true, force: true });
    execFileSync("umoci", ["unpack", "--image", `${layoutDir}:${tag}`, bundle], { stdio: "pipe" });
    const out: Record<string, UnpackedNode | undefined> = {};
    for (const p of paths) {
      const abs = path.join(bundle, "rootfs", p);
      const st = await lstat(abs).catch(() => undefined);
      if (!st) {
        out[p] = undefined;
        continue;
      }
      const node: UnpackedNode = {
        type: st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other",
        mode: (st.mode & 0o7777).toString(8),
        owner: `${st.uid}:${st.gid}`,
      };
      if (st.isSymbolicLink()) node.link = await readlink(abs);
      if (st.isFile()) node.text = await readFile(abs, "utf8");
      out[p] = node;
    }
    return out;
  } finally {
    rmSync(bundle, { recursive: true, force: true });
  }
}

/** Tags an image into a store directory (for FROM by name). */
export async function tagInStore(store: string, image: Image, tag: string): Promise<void> {
  const layout = await ImageLayout.open(store, { create: true });
  await layout.write(image, { tag });
}

/** Removes directories, ignoring errors. */
export function cleanup(...dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
