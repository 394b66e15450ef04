import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { digestOf } from "../src/digest/index.js";
import {
  appendLayers,
  emptyImage,
  type Image,
  ImageLayout,
  layerFromFile,
  openDockerArchive,
  openLocal,
  parseImageLocation,
  setAnnotations,
  setConfig,
  setCreated,
  toOci,
  writeDockerArchive,
  writeLocal,
} from "../src/image/index.js";
import { MediaType } from "../src/manifest/index.js";
import { makeBusyboxRootfs, makeUmociImage, run, tarDir } from "./helpers/images.js";
import { requireTool } from "./helpers/tools.js";

let work: string;
let rootfs: string;
let layerTgz: string;

beforeAll(() => {
  requireTool("skopeo");
  requireTool("umoci");
  work = mkdtempSync(path.join(tmpdir(), "cairn-image-"));
  rootfs = makeBusyboxRootfs(path.join(work, "rootfs"));
  layerTgz = tarDir(rootfs, path.join(work, "busybox.tar.gz"));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

async function busyboxImage(): Promise<Image> {
  const layer = await layerFromFile(layerTgz);
  const base = await appendLayers(emptyImage(), {
    layer,
    history: { created_by: "busybox rootfs", created: "1970-01-01T00:00:00Z" },
  });
  return setConfig(base, { cmd: ["/bin/sh"], env: { PATH: "/bin" } });
}

async function readStream(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe("assembling images", () => {
  it("appends a layer to the empty image and sets config", async () => {
    const image = await busyboxImage();
    const manifest = await image.manifest();
    const config = await image.config();
    expect(manifest.layers).toHaveLength(1);
    expect(manifest.layers[0]?.mediaType).toBe(MediaType.ociLayerGzip);
    expect(config.rootfs.diff_ids).toHaveLength(1);
    const uncompressed = await readStream(await (await image.layers())[0]!.openUncompressed());
    expect(config.rootfs.diff_ids[0]).toBe(await digestOf(uncompressed));
    expect(config.config?.Cmd).toEqual(["/bin/sh"]);
    expect(config.config?.Env).toEqual(["PATH=/bin"]);
    expect(config.history?.[0]?.created_by).toBe("busybox rootfs");
  });

  it("is deterministic: the same inputs give the same digest", async () => {
    const a = await setCreated(await busyboxImage(), new Date(0), { history: true });
    const b = await setCreated(await busyboxImage(), new Date(0), { history: true });
    expect(await a.digest()).toBe(await b.digest());
  });

  it("setConfig merges env and labels, removes with null, adds ports and volumes", async () => {
    const image = await setConfig(await busyboxImage(), {
      env: { A: "1", PATH: "/usr/bin:/bin" },
      labels: { x: "1", y: "2" },
      exposedPorts: ["80", "53/udp"],
      volumes: ["/data"],
      user: "nobody",
      workdir: "/tmp",
      stopSignal: "SIGTERM",
      entrypoint: ["/bin/sh", "-c"],
    });
    const next = await setConfig(image, { env: { A: null }, labels: { y: null } });
    const c = (await next.config()).config!;
    expect(c.Env).toEqual(["PATH=/usr/bin:/bin"]);
    expect(c.Labels).toEqual({ x: "1" });
    expect(Object.keys(c.ExposedPorts ?? {})).toEqual(["80/tcp", "53/udp"]);
    expect(Object.keys(c.Volumes ?? {})).toEqual(["/data"]);
    expect([c.User, c.WorkingDir, c.StopSignal]).toEqual(["nobody", "/tmp", "SIGTERM"]);
  });

  it("setAnnotations writes manifest annotations", async () => {
    const image = await setAnnotations(await busyboxImage(), { "org.opencontainers.image.title": "bb" });
    const m = (await image.manifest()) as { annotations?: Record<string, string> };
    expect(m.annotations).toEqual({ "org.opencontainers.image.title": "bb" });
  });
});

describe("OCI layout as source and sink", () => {
  it("writes an image, reads it back lazily with every digest kept, and skips existing blobs", async () => {
    const image = await busyboxImage();
    const layout = await ImageLayout.open(path.join(work, "layout1"), { create: true });
    const events: boolean[] = [];
    const desc = await layout.write(image, { tag: "latest", onProgress: (e) => events.push(e.skipped) });
    expect(desc.digest).toBe(await image.digest());
    expect(events).toEqual([false, false, false]);
    const again: boolean[] = [];
    await layout.write(image, { tag: "again", onProgress: (e) => again.push(e.skipped) });
    expect(again).toEqual([true, true, true]);
    const read = await layout.image("latest");
    expect(await read.digest()).toBe(await image.digest());
    expect(Buffer.from(await read.rawConfig()).equals(Buffer.from(await image.rawConfig()))).toBe(true);
    expect(await (await read.layers())[0]!.diffId()).toBe((await image.config()).rootfs.diff_ids[0]);
  });

  it("skopeo copies and inspects a layout cairn wrote, and umoci unpacks it", async () => {
    const dir = path.join(work, "layout2");
    const image = await busyboxImage();
    await writeLocal(image, `oci:${dir}:v1`);
    const copyDir = path.join(work, "layout2-copy");
    run("skopeo", ["copy", "--quiet", `oci:${dir}:v1`, `oci:${copyDir}:v1`]);
    const inspected = JSON.parse(run("skopeo", ["inspect", "--raw", `oci:${copyDir}:v1`]));
    expect(inspected.config.digest).toBe((await image.manifest()).config.digest);
    expect(inspected.layers[0].digest).toBe((await image.manifest()).layers[0]?.digest);
    const bundle = path.join(work, "bundle2");
    execFileSync("umoci", ["unpack", "--rootless", "--image", `${dir}:v1`, bundle]);
    expect(existsSync(path.join(bundle, "rootfs/bin/busybox"))).toBe(true);
    expect(readFileSync(path.join(bundle, "rootfs/etc/passwd"), "utf8")).toContain("root:x:0:0");
  });

  it("reads a layout umoci wrote and round-trips it to another layout with every digest kept", async () => {
    const dir = makeUmociImage(path.join(work, "umoci"), "t", rootfs);
    const layout = await ImageLayout.open(dir);
    const image = await layout.image("t");
    const config = await image.config();
    expect(config.config?.Cmd).toEqual(["/bin/sh"]);
    const layers = await image.layers();
    expect(layers.length).toBeGreaterThan(0);
    for (const [i, l] of layers.entries()) {
      const bytes = await readStream(await l.openUncompressed());
      expect(await digestOf(bytes)).toBe(config.rootfs.diff_ids[i]);
    }
    const out = await ImageLayout.open(path.join(work, "umoci-copy"), { create: true });
    await out.write(image, { tag: "t" });
    const copy = await out.image("t");
    expect(await copy.digest()).toBe(await image.digest());
    run("skopeo", ["inspect", "--raw", `oci:${path.join(work, "umoci-copy")}:t`]);
  });

  it("fails with a clear error on a corrupt blob", async () => {
    const dir = path.join(work, "corrupt");
    const image = await busyboxImage();
    await writeLocal(image, `oci:${dir}:v1`);
    const layerDigest = (await image.manifest()).layers[0]!.digest;
    const blob = path.join(dir, "blobs/sha256", layerDigest.slice(7));
    const bytes = readFileSync(blob);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    writeFileSync(blob, bytes);
    const read = await (await ImageLayout.open(dir)).image("v1");
    await expect(readStream(await (await read.layers())[0]!.open())).rejects.toMatchObject({
      code: "E_DIGEST_MISMATCH",
    });
  });
});

describe("docker-archive", () => {
  it("reads an archive skopeo wrote, keeping the image ID and diff IDs", async () => {
    const dir = makeUmociImage(path.join(work, "for-archive"), "t", rootfs);
    const tarFile = path.join(work, "skopeo.tar");
    run("skopeo", ["copy", "--quiet", `oci:${dir}:t`, `docker-archive:${tarFile}:example.com/bb:1`]);
    const archive = await openDockerArchive(tarFile);
    expect(archive.entries[0]?.RepoTags).toEqual(["example.com/bb:1"]);
    const image = await archive.image("example.com/bb:1");
    const src = await (await ImageLayout.open(dir)).image("t");
    expect((await image.config()).rootfs.diff_ids).toEqual((await src.config()).rootfs.diff_ids);
    for (const l of await image.layers()) {
      const bytes = await readStream(await l.openUncompressed());
      expect(await digestOf(bytes)).toBe(await l.diffId());
    }
    const oci = path.join(work, "from-archive");
    await writeLocal(image, `oci:${oci}:t`);
    const back = await (await ImageLayout.open(oci)).image("t");
    expect((await back.manifest()).mediaType).toBe(MediaType.ociManifest);
    expect((await back.config()).rootfs.diff_ids).toEqual((await src.config()).rootfs.diff_ids);
    run("skopeo", ["inspect", `oci:${oci}:t`]);
  });

  it("writes an archive skopeo reads, and round-trips archive -> layout -> archive", async () => {
    const image = await busyboxImage();
    const tarFile = path.join(work, "cairn.tar");
    await writeDockerArchive(tarFile, [{ image, tags: ["example.com/app:1.0"] }]);
    const inspected = JSON.parse(run("skopeo", ["inspect", "--config", `docker-archive:${tarFile}`]));
    expect(inspected.rootfs.diff_ids).toEqual((await image.config()).rootfs.diff_ids);
    const oci = path.join(work, "skopeo-from-cairn");
    run("skopeo", ["copy", "--quiet", `docker-archive:${tarFile}`, `oci:${oci}:x`]);
    const viaSkopeo = await (await ImageLayout.open(oci)).image("x");
    expect((await viaSkopeo.config()).rootfs.diff_ids).toEqual((await image.config()).rootfs.diff_ids);

    const archive = await openDockerArchive(tarFile);
    const read = await archive.image();
    expect((await read.manifest()).config.digest).toBe((await image.manifest()).config.digest);
    const tarFile2 = path.join(work, "cairn2.tar");
    await writeDockerArchive(tarFile2, [{ image: read, tags: ["example.com/app:1.0"] }]);
    const again = await (await openDockerArchive(tarFile2)).image();
    expect((await again.manifest()).config.digest).toBe((await image.manifest()).config.digest);
    expect(await again.digest()).toBe(await read.digest());
  });

  it("refuses a file that is not an archive", async () => {
    const bad = path.join(work, "bad.tar");
    writeFileSync(bad, "not a tar at all".repeat(100));
    await expect(openDockerArchive(bad)).rejects.toMatchObject({ code: "E_ARCHIVE_INVALID" });
  });
});

describe("locations", () => {
  it("parses skopeo-style transports", () => {
    expect(parseImageLocation("oci:./x:v1")).toEqual({ transport: "oci", dir: "./x", tag: "v1" });
    expect(parseImageLocation("oci:/a/b")).toEqual({ transport: "oci", dir: "/a/b" });
    expect(parseImageLocation("docker-archive:f.tar:example.com/a:1")).toEqual({
      transport: "docker-archive",
      file: "f.tar",
      ref: "example.com/a:1",
    });
    expect(parseImageLocation("docker://busybox")).toEqual({ transport: "docker", ref: "busybox" });
    expect(parseImageLocation("busybox:latest")).toEqual({ transport: "name", name: "busybox:latest" });
    expect(parseImageLocation("store:busybox")).toEqual({ transport: "store", name: "busybox" });
  });

  it("converts Docker images to OCI when copying into an oci: layout", async () => {
    const tarFile = path.join(work, "cairn.tar");
    const src = await openLocal(`docker-archive:${tarFile}`);
    const converted = await toOci(src as Image);
    expect((await converted.manifest()).mediaType).toBe(MediaType.ociManifest);
  });
});
