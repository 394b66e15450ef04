import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendLayers, emptyImage, layerFromFile, setConfig, writeLocal } from "../src/image/index.js";
import { push } from "../src/registry/index.js";
import { repoRoot } from "./helpers/conformance.js";
import { makeBusyboxRootfs, tarDir } from "./helpers/images.js";
import { startRegistry, type TestRegistry } from "./helpers/registry.js";

// examples run with the work dir as cwd, so name tsx's loader by path
const tsxLoader = pathToFileURL(path.join(repoRoot, "node_modules/tsx/dist/esm/index.mjs")).href;
let work: string;
let home: string;
let registry: TestRegistry;

function runExample(file: string, args: string[] = [], env: Record<string, string> = {}): string {
  return execFileSync(
    process.execPath,
    ["--import", tsxLoader, path.join(repoRoot, "examples", file), ...args],
    {
      cwd: work,
      encoding: "utf8",
      env: { ...process.env, CAIRN_HOME: home, ...env },
      timeout: 120_000,
    },
  );
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "cairn-examples-"));
  home = path.join(work, "home");
  registry = await startRegistry();
  const rootfs = makeBusyboxRootfs(path.join(work, "rootfs"));
  const image = await setConfig(
    await appendLayers(emptyImage(), await layerFromFile(tarDir(rootfs, path.join(work, "bb.tgz")))),
    {
      cmd: ["/bin/echo", "hello from busybox"],
    },
  );
  await writeLocal(image, `oci:${path.join(work, "bb")}:1`);
  await push(image, `${registry.host}/examples/bb:1`);
});

afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("examples", () => {
  it("demo.ts runs on a fresh default store and is reproducible", () => {
    const first = runExample("demo.ts");
    expect(first).toContain("5 of 5 steps CACHED");
    expect(first).toContain("same digest: true");
    expect(first).toContain("0 missing, 0 corrupt");
    expect(first).toContain("hello from a cairn-built image! Built without a daemon.");
    expect(first).toContain("nothing: every part of the demo ran");
    const second = runExample("demo.ts", [], { CAIRN_HOME: path.join(work, "home2") });
    const digests = (s: string) => s.match(/digest sha256:[0-9a-f]{64}/g);
    expect(digests(second)).toEqual(digests(first));
  });

  it("assemble-image.ts and read-file.ts: an image without a Dockerfile, read back without unpacking", () => {
    const out = runExample("assemble-image.ts", ["out"]);
    expect(out).toMatch(/digest sha256:[0-9a-f]{64}/);
    expect(out).toContain('entrypoint ["/app/run.sh"]');
    const read = runExample("read-file.ts", ["oci:out/layout:assembled", "/app/config.json"]);
    expect(read).toContain("/app/config.json: 21 bytes, mode 644");
    expect(read).toContain('{"greeting":"hello"}');
  });

  it("build-image.ts builds examples/hello from a script", () => {
    const out = runExample("build-image.ts", ["out"]);
    expect(out).toMatch(/digest sha256:[0-9a-f]{64}/);
    expect(out).toContain("steps 4, cached 0");
  });

  it("pull-inspect.ts and copy-registries.ts work against a real registry", () => {
    const ref = `${registry.host}/examples/bb:1`;
    const pulled = runExample("pull-inspect.ts", [ref]);
    expect(pulled).toContain("platform linux/amd64");
    expect(pulled).toContain(`as ${ref}`);
    const copied = runExample("copy-registries.ts", [ref, `${registry.host}/examples/copy:1`]);
    expect(copied).toContain("same digest: true");
    expect(copied).toMatch(/0 uploaded, \d+ mounted/);
  });

  it("run-container.ts runs the busybox image", () => {
    const out = runExample("run-container.ts", [`oci:${path.join(work, "bb")}:1`]);
    expect(out).toMatch(/runtime \w+, exit 0/);
    expect(out).toContain("hello from busybox");
  });
});
