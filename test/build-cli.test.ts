import { execFileSync } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli/main.js";
import { ImageLayout, openLocal } from "../src/image/index.js";
import { busyboxLayout, cleanup, fileText, tagInStore, tempDir, writeTree } from "./build-helpers.js";
import { repoRoot } from "./helpers/conformance.js";

let root: string;
let home: string;
const saved = process.env.CAIRN_HOME;

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

beforeAll(async () => {
  root = tempDir("cli");
  home = path.join(root, "home");
  process.env.CAIRN_HOME = home;
  const base = busyboxLayout(path.join(root, "base"));
  const image = await openLocal(base);
  if ("image" in image) throw new Error("expected an image");
  await tagInStore(home, image, "cairn-demo/base:latest");
});

afterAll(() => {
  if (saved === undefined) delete process.env.CAIRN_HOME;
  else process.env.CAIRN_HOME = saved;
  cleanup(root);
});

describe("cairn build", () => {
  it("builds examples/hello with plain progress, then replays it all from the cache", async () => {
    const hello = path.join(repoRoot, "examples/hello");
    const noRun = path.join(hello, "Dockerfile.no-run");
    const first = await cli("build", "-f", noRun, "-t", "hello:1", hello);
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^sha256:[0-9a-f]{64}$/);
    const lines = first.err.split("\n");
    expect(lines).toContain("#2 [2/3] WORKDIR /app");
    expect(lines).toContain("#3 [3/3] COPY app/ /app/");
    expect(lines.some((l) => /^#3 DONE \d+\.\ds$/.test(l))).toBe(true);
    expect(lines).toContain("#4 exporting to image");

    const started = performance.now();
    const second = await cli("build", "-f", noRun, "-t", "hello:1", "--explain-cache", hello);
    const ms = performance.now() - started;
    expect(second.out).toBe(first.out);
    const cached = second.err.split("\n").filter((l) => / CACHED$/.test(l));
    expect(cached).toEqual(["#1 CACHED", "#2 CACHED", "#3 CACHED"]);
    expect(second.err).toContain("line 6 [stage-0] COPY app/ /app/: hit");
    expect(ms).toBeLessThan(1000);

    const image = await (await ImageLayout.open(home)).image("docker.io/library/hello:1");
    expect(await image.digest()).toBe(first.out);
    expect(await fileText(image, "app/message.txt")).toBe("Built without a daemon.\n");
  });

  it("writes outputs, takes build args and a Dockerfile path, and runs RUN through --runtime", async () => {
    const ctx = writeTree(path.join(root, "ctx"), {
      "build.Dockerfile":
        "ARG WHO=nobody\nFROM cairn-demo/base:latest\nARG WHO\nRUN echo hello $WHO > /greeting\n",
    });
    const out = path.join(root, "out");
    const r = await cli(
      "build",
      "-f",
      path.join(ctx, "build.Dockerfile"),
      "--build-arg",
      "WHO=cli",
      "--runtime",
      "runc",
      "-q",
      "-o",
      `oci:${out}:v1`,
      ctx,
    );
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const inspect = JSON.parse(
      execFileSync("skopeo", ["inspect", `oci:${out}:v1`], { encoding: "utf8" }),
    ) as {
      Digest: string;
    };
    expect(inspect.Digest).toBe(r.out);
    const image = await openLocal(`oci:${out}:v1`);
    if ("image" in image) throw new Error("expected an image");
    expect(await fileText(image, "greeting")).toBe("hello cli\n");
  });

  it("still prints the plan with --dry-run, and reports errors with their code", async () => {
    const hello = path.join(repoRoot, "examples/hello");
    const plan = await cli("build", "--dry-run", hello);
    expect(plan.code).toBe(0);
    expect(plan.out).toContain("COPY app/ /app/");
    const bad = writeTree(path.join(root, "bad"), { Dockerfile: "FROM scratch\nCOPY missing /x\n" });
    const failed = await cli("build", bad);
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(/E_DOCKERFILE_SYNTAX|E_NOT_FOUND|E_BUILD_FAILED/);
  });
});
