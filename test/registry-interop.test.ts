import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ImageLayout } from "../src/image/index.js";
import { MediaType } from "../src/manifest/index.js";
import {
  closeRegistryConnections,
  fetchManifest,
  login,
  pull,
  push,
  registry,
} from "../src/registry/index.js";
import { startRegistry, type TestRegistry } from "./helpers/registry.js";
import { skopeo, skopeoCopy, skopeoFlags, skopeoInspect } from "./helpers/registry-skopeo.js";
import { makeImage, makeIndex, sha256 } from "./helpers/remote-images.js";

let reg: TestRegistry;
let basic: TestRegistry;
let tmp: string;

beforeAll(async () => {
  [reg, basic] = await Promise.all([startRegistry(), startRegistry({ auth: "basic" })]);
  tmp = mkdtempSync(path.join(os.tmpdir(), "cairn-reg-interop-"));
});

afterAll(async () => {
  await closeRegistryConnections();
  await Promise.all([reg?.stop(), basic?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

describe("interop with skopeo", () => {
  test("an image pushed by cairn is read by skopeo with the same digests", async () => {
    const image = await makeImage({ label: "to-skopeo" });
    await push(image, `${reg.host}/interop/a:1`);
    const raw = await skopeoInspect(reg, "interop/a:1", { raw: true });
    expect(sha256(raw)).toBe(await image.digest());
    const config = await skopeoInspect(reg, "interop/a:1", { config: true, raw: true });
    expect(sha256(config)).toBe((await image.manifest()).config.digest);
    const dir = path.join(tmp, "skopeo-a");
    await skopeoCopy(`docker://${reg.host}/interop/a:1`, `oci:${dir}:1`, { src: reg });
    const layout = await ImageLayout.open(dir);
    expect(await (await layout.image("1")).digest()).toBe(await image.digest());
  });

  test("a two-platform index pushed by cairn is copied whole by skopeo --all", async () => {
    const index = await makeIndex();
    await registry.write(`${reg.host}/interop/multi:1`, index);
    const dir = path.join(tmp, "skopeo-multi");
    await skopeoCopy(`docker://${reg.host}/interop/multi:1`, `oci:${dir}:1`, { src: reg, extra: ["--all"] });
    const layout = await ImageLayout.open(dir);
    expect(await (await layout.index("1")).digest()).toBe(await index.digest());
  });

  test("images pushed by skopeo (OCI and converted to Docker schema 2) are pulled by cairn", async () => {
    const image = await makeImage({ label: "from-skopeo" });
    const src = path.join(tmp, "src-layout");
    await (await ImageLayout.open(src, { create: true })).write(image, { tag: "1" });
    await skopeoCopy(`oci:${src}:1`, `docker://${reg.host}/interop/b:oci`, { dest: reg });
    await skopeoCopy(`oci:${src}:1`, `docker://${reg.host}/interop/b:docker`, {
      dest: reg,
      extra: ["--format", "v2s2"],
    });

    const oci = await pull(`${reg.host}/interop/b:oci`, { layout: path.join(tmp, "b-oci") });
    expect(oci.digest).toBe(await image.digest());

    const skopeoDigest = JSON.parse(await skopeoInspect(reg, "interop/b:docker")).Digest as string;
    const docker = await fetchManifest(`${reg.host}/interop/b:docker`);
    expect(docker.mediaType).toBe(MediaType.dockerManifest);
    expect(docker.digest).toBe(skopeoDigest);
    const pulled = await pull(`${reg.host}/interop/b:docker`, { layout: path.join(tmp, "b-docker") });
    expect(pulled.digest).toBe(skopeoDigest);
    const back = await (await ImageLayout.open(path.join(tmp, "b-docker"))).image("docker");
    expect((await back.config()).config?.Labels?.["test.label"]).toBe("from-skopeo");
  });

  test("skopeo logs in with the config.json `cairn login` wrote", async () => {
    const file = path.join(tmp, "login", "config.json");
    await login(basic.host, {
      username: basic.username as string,
      password: basic.password as string,
      authFile: file,
    });
    const image = await makeImage({ label: "login-interop" });
    await push(image, `${basic.host}/interop/c:1`, {
      auth: { username: basic.username as string, password: basic.password as string },
    });
    const out = await skopeo([
      "inspect",
      "--raw",
      "--authfile",
      file,
      ...skopeoFlags({ url: basic.url }, "").filter((f) => f !== "--no-creds"),
      `docker://${basic.host}/interop/c:1`,
    ]);
    expect(sha256(out)).toBe(await image.digest());
    expect(JSON.parse(readFileSync(file, "utf8")).auths[basic.host].auth).toBeTruthy();
  });
});
