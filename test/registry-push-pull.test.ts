import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { OciLayout } from "../src/content/index.js";
import { isCairnError } from "../src/errors/index.js";
import { ImageLayout, imageFromManifest, isImageIndex } from "../src/image/index.js";
import { MediaType } from "../src/manifest/index.js";
import {
  closeRegistryConnections,
  copy,
  deleteManifest,
  listReferrers,
  type ProgressEvent,
  pull,
  push,
  RegistryClient,
  referrersTag,
  registry,
  resolveDigest,
} from "../src/registry/index.js";
import { startRegistry, type TestRegistry } from "./helpers/registry.js";
import { MemoryBlobs, makeImage, makeIndex, sha256 } from "./helpers/remote-images.js";

let reg: TestRegistry;
let tmp: string;

beforeAll(async () => {
  reg = await startRegistry();
  tmp = mkdtempSync(path.join(os.tmpdir(), "cairn-reg-pp-"));
});

afterAll(async () => {
  await closeRegistryConnections();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("push and pull against the CNCF registry", () => {
  test("an image pushed is pulled back byte for byte", async () => {
    const image = await makeImage({ label: "pp1" });
    const events: ProgressEvent[] = [];
    const result = await push(image, `${reg.host}/cairn/pp:v1`, { onProgress: (e) => events.push(e) });
    expect(result.descriptor.digest).toBe(await image.digest());
    expect(result.blobs.uploaded).toBe(3);
    expect(
      events
        .filter((e) => e.status === "done")
        .map((e) => e.digest)
        .sort(),
    ).toEqual(
      [
        ...(await image.layers()).map((l) => l.descriptor.digest),
        (await image.manifest()).config.digest,
      ].sort(),
    );

    const layoutDir = path.join(tmp, "pp1");
    const pulled = await pull(`${reg.host}/cairn/pp:v1`, { layout: layoutDir });
    expect(pulled.digest).toBe(await image.digest());
    const layout = await ImageLayout.open(layoutDir);
    const back = await layout.image("v1");
    expect(Buffer.from(await back.rawManifest())).toEqual(Buffer.from(await image.rawManifest()));
    expect(Buffer.from(await back.rawConfig())).toEqual(Buffer.from(await image.rawConfig()));
    expect(await resolveDigest(`${reg.host}/cairn/pp:v1`)).toBe(await image.digest());
  });

  test("a second push skips every blob the registry has", async () => {
    const image = await makeImage({ label: "pp2" });
    await push(image, `${reg.host}/cairn/pp2:a`);
    const again = await push(image, `${reg.host}/cairn/pp2:b`);
    expect(again.blobs.uploaded).toBe(0);
    expect(await resolveDigest(`${reg.host}/cairn/pp2:b`)).toBe(await image.digest());
  });

  test("a two-platform index round-trips, and pull picks one platform unless asked for all", async () => {
    const index = await makeIndex();
    const pushed = await registry.write(`${reg.host}/cairn/multi:1`, index);
    expect(pushed.descriptor.digest).toBe(await index.digest());

    const got = await registry.get(`${reg.host}/cairn/multi:1`);
    expect(isImageIndex(got)).toBe(true);
    const arm = await registry.image(`${reg.host}/cairn/multi:1`, { platform: "linux/arm64" });
    expect((await arm.config()).architecture).toBe("arm64");

    const all = await pull(`${reg.host}/cairn/multi:1`, {
      layout: path.join(tmp, "multi"),
      allPlatforms: true,
    });
    expect(all.digest).toBe(await index.digest());
    const one = await pull(`${reg.host}/cairn/multi:1`, {
      layout: path.join(tmp, "multi-one"),
      platform: "linux/arm64",
    });
    expect(one.digest).toBe(await arm.digest());
    // the form: pull(ref, store, { platform | allPlatforms, concurrency, ... })
    const store = await OciLayout.open(path.join(tmp, "multi-store"), { create: true });
    const positional = await pull(`${reg.host}/cairn/multi:1`, store, {
      platform: "linux/arm64",
      concurrency: 2,
    });
    expect(positional.digest).toBe(await arm.digest());
    expect((await store.resolve("1")).digest).toBe(await arm.digest());
  });

  test("copy between repositories mounts the blobs instead of uploading them", async () => {
    const image = await makeImage({ label: "mount" });
    await push(image, `${reg.host}/cairn/src:1`);
    const result = await copy(`docker://${reg.host}/cairn/src:1`, `docker://${reg.host}/cairn/dst:1`);
    expect(result.digest).toBe(await image.digest());
    expect(result.write?.blobs).toEqual({ uploaded: 0, mounted: 3, existing: 0 });
  });

  test("a missing manifest is E_NOT_FOUND and the client checks digests", async () => {
    const client = new RegistryClient(reg.host);
    await expect(client.getManifest("cairn/none", "latest")).rejects.toSatisfy((e) =>
      isCairnError(e, "E_NOT_FOUND"),
    );
    const image = await makeImage({ label: "byd" });
    await push(image, `${reg.host}/cairn/byd:1`);
    const m = await client.getManifest("cairn/byd", await image.digest());
    expect(sha256(m.bytes)).toBe(await image.digest());
  });
});

describe("tags, catalog, delete and referrers", () => {
  test("tags list reads every tag (2.8 ignores n and last; the Link paging is tested in registry-http)", async () => {
    const image = await makeImage({ label: "tags" });
    const tags = ["a", "b", "c", "d", "e"];
    for (const t of tags) await push(image, `${reg.host}/cairn/tags:${t}`);
    const client = new RegistryClient(reg.host);
    expect((await client.listTags("cairn/tags")).sort()).toEqual(tags);
    const pages: string[][] = [];
    for await (const page of client.tagPages("cairn/tags", { pageSize: 2 })) pages.push(page);
    expect(pages.flat().sort()).toEqual(tags);
    expect(await client.listTags("cairn/tags", { limit: 3 })).toHaveLength(3);
    await expect(client.listTags("cairn/nothing-here")).rejects.toSatisfy((e) =>
      isCairnError(e, "E_NOT_FOUND"),
    );
  });

  test("catalog lists the repositories across pages", async () => {
    const client = new RegistryClient(reg.host);
    const all = await client.catalog();
    expect(all).toContain("cairn/pp");
    expect(await client.catalog({ pageSize: 1 })).toEqual(all);
  });

  test("delete removes a manifest by digest, resolving a tag first", async () => {
    const image = await makeImage({ label: "del" });
    await push(image, `${reg.host}/cairn/del:1`);
    expect(await deleteManifest(`${reg.host}/cairn/del:1`)).toBe(await image.digest());
    await expect(resolveDigest(`${reg.host}/cairn/del:1`)).rejects.toSatisfy((e) =>
      isCairnError(e, "E_NOT_FOUND"),
    );
    await expect(deleteManifest(`${reg.host}/cairn/del@${await image.digest()}`)).rejects.toSatisfy((e) =>
      isCairnError(e, "E_NOT_FOUND"),
    );
  });

  test("an artifact pushed with a subject is found through the sha256-<hex> tag fallback", async () => {
    const image = await makeImage({ label: "subject" });
    await push(image, `${reg.host}/cairn/ref:1`);
    const subject = await image.descriptor();
    const blobs = new MemoryBlobs();
    const config = blobs.put("{}", MediaType.ociEmpty);
    const layer = blobs.put('{"sbom":true}', "application/spdx+json");
    const manifest = blobs.put(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        artifactType: "application/spdx+json",
        config,
        layers: [layer],
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
        annotations: { "org.example": "sbom" },
      }),
      MediaType.ociManifest,
    );
    const artifact = imageFromManifest(blobs.get(manifest.digest), blobs);
    await registry.write(`${reg.host}/cairn/ref@${manifest.digest}`, artifact);

    const found = await listReferrers(`${reg.host}/cairn/ref:1`);
    expect(found.source).toBe("tag");
    expect(found.manifests).toEqual([
      {
        mediaType: MediaType.ociManifest,
        digest: manifest.digest,
        size: manifest.size,
        artifactType: "application/spdx+json",
        annotations: { "org.example": "sbom" },
      },
    ]);
    expect(
      (await listReferrers(`${reg.host}/cairn/ref:1`, { artifactType: "other/type" })).manifests,
    ).toEqual([]);
    const client = new RegistryClient(reg.host);
    expect(await client.listTags("cairn/ref")).toContain(referrersTag(subject.digest));
    // pushing it again does not add it twice
    await registry.write(`${reg.host}/cairn/ref@${manifest.digest}`, artifact);
    expect((await listReferrers(`${reg.host}/cairn/ref:1`)).manifests).toHaveLength(1);
  });

  test("HEAD and DELETE on blobs and manifests through the client", async () => {
    const image = await makeImage({ label: "client-ops" });
    await push(image, `${reg.host}/cairn/ops:1`);
    const client = new RegistryClient(reg.host);
    const info = await client.headManifest("cairn/ops", "1");
    expect(info).toEqual({
      digest: await image.digest(),
      size: (await image.rawManifest()).length,
      mediaType: MediaType.ociManifest,
    });
    expect(await client.headManifest("cairn/ops", "nope")).toBeUndefined();
    const [layer] = await image.layers();
    expect(await client.headBlob("cairn/ops", layer!.descriptor.digest)).toEqual({
      size: layer!.descriptor.size,
    });
    await client.deleteBlob("cairn/ops", layer!.descriptor.digest);
    expect(await client.headBlob("cairn/ops", layer!.descriptor.digest)).toBeUndefined();
    await expect(client.openBlob("cairn/ops", layer!.descriptor)).rejects.toSatisfy((e) =>
      isCairnError(e, "E_NOT_FOUND"),
    );
  });

  test("a mount from a repository without the blob falls back to the session the registry opened", async () => {
    const client = new RegistryClient(reg.host);
    const bytes = Buffer.from("mount fallback blob");
    const descriptor = { mediaType: "application/octet-stream", digest: sha256(bytes), size: bytes.length };
    const outcome = await client.pushBlob(
      "cairn/mount-dst",
      { descriptor, open: async () => bytes },
      { mountFrom: ["cairn/does-not-have-it"] },
    );
    expect(outcome).toBe("uploaded");
    expect(Buffer.from(await client.readBlob("cairn/mount-dst", descriptor, 1024)).toString()).toBe(
      "mount fallback blob",
    );
  });
});
