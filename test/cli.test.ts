import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli/main.js";
import { digestBytes } from "../src/digest/index.js";
import { appendLayers, emptyImage, layerFromFile, writeLocal } from "../src/image/index.js";
import { makeBusyboxRootfs, tarDir } from "./helpers/images.js";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  version: string;
};

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

let work: string;
const savedHome = process.env.CAIRN_HOME;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "cairn-cli-"));
  process.env.CAIRN_HOME = path.join(work, "home");
});

afterAll(() => {
  if (savedHome === undefined) delete process.env.CAIRN_HOME;
  else process.env.CAIRN_HOME = savedHome;
  rmSync(work, { recursive: true, force: true });
});

const manifest = {
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {
    mediaType: "application/vnd.oci.image.config.v1+json",
    digest: `sha256:${"a".repeat(64)}`,
    size: 7023,
  },
  layers: [
    {
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: `sha256:${"b".repeat(64)}`,
      size: 32654,
    },
  ],
};

describe("cairn", () => {
  it("--version prints the package version; --help lists commands", async () => {
    expect(await cli("--version")).toMatchObject({ code: 0, out: pkg.version });
    const help = await cli("--help");
    expect(help.code).toBe(0);
    for (const c of ["inspect", "copy", "images", "gc", "fsck"]) expect(help.out).toContain(c);
    expect((await cli("inspect", "--help")).out).toContain("Usage: cairn inspect");
    expect((await cli("nope")).code).toBe(2);
  });

  it("runs as a real process", () => {
    const out = execFileSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "--version"], {
      encoding: "utf8",
    });
    expect(out.trim()).toBe(pkg.version);
  });

  it("inspect FILE prints kind, media type, digest and a summary", async () => {
    const file = path.join(work, "manifest.json");
    const text = JSON.stringify(manifest, null, 2);
    writeFileSync(file, text);
    const r = await cli("inspect", file);
    expect(r.code).toBe(0);
    expect(r.out).toContain("kind:       oci-manifest");
    expect(r.out).toContain("application/vnd.oci.image.manifest.v1+json");
    expect(r.out).toContain(digestBytes(text));
    expect(r.out).toContain("layers:     1");
  });

  it("inspect of a bad file prints the validation error with its JSON path and exits 1", async () => {
    const file = path.join(work, "bad.json");
    writeFileSync(file, JSON.stringify({ ...manifest, layers: [{ ...manifest.layers[0], size: "12" }] }));
    const r = await cli("inspect", file);
    expect(r.code).toBe(1);
    expect(r.err).toContain("$.layers[0].size");
    const schema1 = path.join(work, "schema1.json");
    writeFileSync(schema1, JSON.stringify({ schemaVersion: 1, name: "x", tag: "y", fsLayers: [] }));
    const s1 = await cli("inspect", schema1);
    expect(s1.code).toBe(1);
    expect(s1.err).toContain("E_MANIFEST_UNSUPPORTED");
  });

  it("inspect reads the fixtures: an index and an invalid config", async () => {
    const list = await cli("inspect", "fixtures/manifests/docker-manifest-list.json");
    expect(list.code).toBe(0);
    expect(list.out).toContain("kind:       docker-manifest-list");
    expect(list.out).toContain("linux/arm/v7");
    const bad = await cli("inspect", "fixtures/manifests/invalid-config.json");
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("$.config.Env[1]");
    const ok = await cli("inspect", "--json", "fixtures/manifests/oci-manifest.json");
    expect(JSON.parse(ok.out).kind).toBe("oci-manifest");
  });

  it("build --dry-run prints the plan of examples/hello; --json gives the plan as data", async () => {
    const r = await cli("build", "--dry-run", "--build-arg", "BASE=scratch", "examples/hello");
    expect(r.code).toBe(0);
    expect(r.out).toContain("FROM scratch");
    expect(r.out).toContain("COPY app/ /app/");
    const j = await cli("build", "--dry-run", "--json", "--build-arg", "BASE=scratch", "examples/hello");
    const plan = JSON.parse(j.out) as { stages: unknown[] };
    expect(plan.stages.length).toBe(1);
    const missing = await cli("build", "--dry-run", path.join(work, "nowhere"));
    expect(missing.code).toBe(1);
  });

  it("copy, images, inspect IMAGE, gc and fsck work on the default store", async () => {
    const rootfs = makeBusyboxRootfs(path.join(work, "rootfs"));
    const layer = await layerFromFile(tarDir(rootfs, path.join(work, "l.tar.gz")));
    const image = await appendLayers(emptyImage(), layer);
    await writeLocal(image, `oci:${path.join(work, "src")}:v1`);
    const archive = path.join(work, "a.tar");
    expect(
      (await cli("copy", "-q", `oci:${path.join(work, "src")}:v1`, `docker-archive:${archive}:ex/a:1`)).code,
    ).toBe(0);
    expect((await cli("copy", "-q", `docker-archive:${archive}`, "store:ex/a:1")).code).toBe(0);
    const images = await cli("images");
    expect(images.out).toContain("docker.io/ex/a:1");
    const inspected = await cli("inspect", "ex/a:1");
    expect(inspected.code).toBe(0);
    expect(inspected.out).toContain("kind:       image-config");
    expect((await cli("fsck")).out).toMatch(/0 missing, 0 corrupt/);
    const gc = await cli("gc");
    expect(gc.code).toBe(0);
    expect(gc.out).toMatch(/removed 0 blob/);
  });
});

describe("docs/CLI.md", () => {
  it("is what `npm run docs` generates from the commands' help (regenerate with npx tsx scripts/cli-docs.ts)", async () => {
    const { cliDocs } = await import("../scripts/cli-docs.js");
    expect(readFileSync(new URL("../docs/CLI.md", import.meta.url), "utf8")).toBe(cliDocs());
  });
});
