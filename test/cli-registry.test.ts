import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli/main.js";
import { appendLayers, emptyImage, layerFromFile, writeLocal } from "../src/image/index.js";
import { makeBusyboxRootfs, tarDir } from "./helpers/images.js";
import { startRegistry, type TestRegistry } from "./helpers/registry.js";

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

let work: string;
let plain: TestRegistry;
let basic: TestRegistry;
const saved = { home: process.env.CAIRN_HOME, docker: process.env.DOCKER_CONFIG };

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "cairn-cli-reg-"));
  process.env.CAIRN_HOME = path.join(work, "home");
  process.env.DOCKER_CONFIG = path.join(work, "docker");
  [plain, basic] = await Promise.all([startRegistry(), startRegistry({ auth: "basic" })]);
  const rootfs = makeBusyboxRootfs(path.join(work, "rootfs"));
  const image = await appendLayers(
    emptyImage(),
    await layerFromFile(tarDir(rootfs, path.join(work, "l.tgz"))),
  );
  await writeLocal(image, `oci:${path.join(work, "src")}:v1`);
});

afterAll(async () => {
  await Promise.all([plain?.stop(), basic?.stop()]);
  for (const [k, v] of [
    ["CAIRN_HOME", saved.home],
    ["DOCKER_CONFIG", saved.docker],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(work, { recursive: true, force: true });
});

describe("cairn registry commands", () => {
  it("push, ls, digest, inspect docker://, pull, copy, catalog and delete", async () => {
    const ref = `${plain.host}/acme/bb:1`;
    const pushed = await cli("push", "-q", `oci:${path.join(work, "src")}:v1`, ref);
    expect(pushed.code).toBe(0);
    const digest = pushed.out.match(/sha256:[0-9a-f]{64}/)?.[0];
    expect(digest).toBeDefined();
    expect((await cli("ls", `${plain.host}/acme/bb`)).out.split("\n")).toContain("1");
    expect((await cli("digest", ref)).out).toBe(digest);
    expect(JSON.parse((await cli("ls", "--json", `${plain.host}/acme/bb`)).out)).toEqual(["1"]);
    const inspected = JSON.parse((await cli("inspect", `docker://${ref}`)).out);
    expect(inspected.digest).toBe(digest);
    expect(inspected.config.rootfs.diff_ids).toHaveLength(1);
    const raw = (await cli("inspect", "--raw", `docker://${ref}`)).out;
    expect(JSON.parse(raw).layers).toHaveLength(1);

    const pulled = await cli("pull", "-q", ref);
    expect(pulled.code).toBe(0);
    expect((await cli("images")).out).toContain(`${plain.host}/acme/bb:1`);
    // a bare name now resolves in the default store first
    expect((await cli("inspect", ref)).out).toContain("kind:       image-config");

    expect((await cli("copy", "-q", `docker://${ref}`, `docker://${plain.host}/other/bb:2`)).code).toBe(0);
    expect((await cli("digest", `${plain.host}/other/bb:2`)).out).toBe(digest);
    expect((await cli("catalog", plain.host)).out.split("\n")).toEqual(
      expect.arrayContaining(["acme/bb", "other/bb"]),
    );
    const out = path.join(work, "pulled.tar");
    expect((await cli("pull", "-q", ref, `docker-archive:${out}:x/y:1`)).code).toBe(0);
    expect(existsSync(out)).toBe(true);

    expect((await cli("delete", `${plain.host}/other/bb:2`)).out).toBe(`deleted ${digest}`);
    const gone = await cli("digest", `${plain.host}/other/bb:2`);
    expect(gone.code).toBe(1);
  });

  it("login checks credentials, saves them as docker does, and push uses them", async () => {
    const bad = await cli("login", basic.host, "-u", basic.username!, "-p", "wrong");
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("E_AUTH");
    const stdinLogin = execFileSync(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "login", basic.host, "-u", basic.username!, "--password-stdin"],
      { input: `${basic.password}\n`, encoding: "utf8", env: process.env },
    );
    expect(stdinLogin).toContain("Login Succeeded");
    const config = JSON.parse(readFileSync(path.join(work, "docker/config.json"), "utf8"));
    expect(config.auths[basic.host].auth).toBe(
      Buffer.from(`${basic.username}:${basic.password}`).toString("base64"),
    );
    expect(
      (await cli("push", "-q", `oci:${path.join(work, "src")}:v1`, `${basic.host}/private/bb:1`)).code,
    ).toBe(0);
    expect((await cli("logout", basic.host)).code).toBe(0);
    const denied = await cli("push", "-q", `oci:${path.join(work, "src")}:v1`, `${basic.host}/private/bb:2`);
    expect(denied.code).toBe(1);
  });
});
