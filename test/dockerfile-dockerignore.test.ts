import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createIgnoreMatcher,
  locateDockerignore,
  parseDockerignore,
  readDockerignore,
} from "../src/dockerfile/index.js";
import { CairnError, isCairnError } from "../src/errors/index.js";

function ignored(patterns: string[], paths: string[]): Record<string, boolean> {
  const m = createIgnoreMatcher(patterns);
  return Object.fromEntries(paths.map((p) => [p, m.matches(p)]));
}

describe("parseDockerignore", () => {
  it("drops comments and blanks, trims, cleans and keeps exclusions", () => {
    expect(
      parseDockerignore(
        "\ufeff# comment\n\n  node_modules/  \n/build\n!/keep/../keep.txt\n! spaced\n  # not a comment\n./a//b/./c\r\n",
      ),
    ).toEqual(["node_modules", "build", "!keep.txt", "!spaced", "# not a comment", "a/b/c"]);
  });
  it("reads bytes", () => {
    expect(parseDockerignore(new TextEncoder().encode("*.log\n"))).toEqual(["*.log"]);
  });
});

describe("createIgnoreMatcher: Docker's pattern rules", () => {
  it("* and ? stay inside one path element", () => {
    expect(ignored(["*.md", "a?c"], ["README.md", "docs/a.md", "abc", "a/c", "abbc"])).toEqual({
      "README.md": true,
      "docs/a.md": false,
      abc: true,
      "a/c": false,
      abbc: false,
    });
  });
  it("** crosses path elements", () => {
    expect(ignored(["**/*.go"], ["main.go", "a/b/c.go", "a/b/c.gox", "go"])).toEqual({
      "main.go": true,
      "a/b/c.go": true,
      "a/b/c.gox": false,
      go: false,
    });
    expect(ignored(["a/**/b"], ["a/b", "a/x/y/b", "a/x/y/bc", "b"])).toEqual({
      "a/b": true,
      "a/x/y/b": true,
      "a/x/y/bc": false,
      b: false,
    });
    expect(ignored(["dir/**"], ["dir", "dir/a", "dir/a/b", "dirx/a"])).toEqual({
      dir: false,
      "dir/a": true,
      "dir/a/b": true,
      "dirx/a": false,
    });
    expect(ignored(["**"], ["x", "a/b/c"])).toEqual({ x: true, "a/b/c": true });
    expect(ignored(["**foo"], ["foo", "barfoo", "a/foo"])).toEqual({
      foo: true,
      barfoo: true,
      "a/foo": true,
    });
  });
  it("a matching parent directory ignores everything below it", () => {
    expect(
      ignored(
        ["node_modules", "/build"],
        ["node_modules/x/y.js", "src/node_modules", "build/out", "src/build"],
      ),
    ).toEqual({
      "node_modules/x/y.js": true,
      "src/node_modules": false,
      "build/out": true,
      "src/build": false,
    });
  });
  it("! re-includes, and the last matching pattern wins", () => {
    expect(ignored(["*.md", "!README.md"], ["README.md", "CHANGES.md"])).toEqual({
      "README.md": false,
      "CHANGES.md": true,
    });
    expect(ignored(["!README.md", "*.md"], ["README.md"])).toEqual({ "README.md": true });
    expect(ignored(["docs", "!docs/keep.md"], ["docs/keep.md", "docs/other.md", "docs"])).toEqual({
      "docs/keep.md": false,
      "docs/other.md": true,
      docs: true,
    });
    expect(ignored(["*", "!src", "src/*.tmp"], ["a", "src/x.ts", "src/x.tmp"])).toEqual({
      a: true,
      "src/x.ts": false,
      "src/x.tmp": true,
    });
  });
  it("character classes and escapes", () => {
    expect(ignored(["[a-c]x", "[^a]y", "lit\\*"], ["bx", "dx", "ay", "by", "lit*", "litx"])).toEqual({
      bx: true,
      dx: false,
      ay: false,
      by: true,
      "lit*": true,
      litx: false,
    });
    expect(ignored(["a.b", "(x)", "c+"], ["a.b", "axb", "(x)", "c+", "cc"])).toEqual({
      "a.b": true,
      axb: false,
      "(x)": true,
      "c+": true,
      cc: false,
    });
  });
  it("normalizes the paths it is given and never ignores the root", () => {
    const m = createIgnoreMatcher(["a/b", "**"]);
    expect(m.matches("./a//b/")).toBe(true);
    expect(m.matches("/a/b")).toBe(true);
    expect(m.matches(".")).toBe(false);
    expect(m.matches("", true)).toBe(false);
  });
  it("reports patterns and exclusions", () => {
    const m = createIgnoreMatcher(["  a/  ", "", "!b"]);
    expect(m.patterns).toEqual(["a", "!b"]);
    expect(m.hasExclusions).toBe(true);
  });
  it("rejects malformed patterns", () => {
    for (const bad of ["[", "[]", "a[b-]", "!", "x\\"]) {
      let err: unknown;
      try {
        createIgnoreMatcher([bad]);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(CairnError);
      expect((err as CairnError).code).toBe("E_USAGE");
    }
  });
  it("never throws anything but CairnError and matches in bounded time", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 }),
        fc.string({ maxLength: 40 }),
        (pats, p) => {
          try {
            createIgnoreMatcher(pats).matches(p);
          } catch (err) {
            if (!isCairnError(err)) throw err;
          }
        },
      ),
      { numRuns: 1000 },
    );
    const start = performance.now();
    createIgnoreMatcher(["**/**/**/**/**/*a*a*a*a*a*b"]).matches(`${"a/".repeat(200)}${"a".repeat(200)}`);
    expect(performance.now() - start).toBeLessThan(2000);
  });
});

describe("readDockerignore", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cairn-dockerignore-"));
    await mkdir(path.join(dir, "docker"));
    await writeFile(path.join(dir, ".dockerignore"), "generic\n");
    await writeFile(path.join(dir, "docker", "app.Dockerfile.dockerignore"), "specific\n!keep\n");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  it("prefers <Dockerfile>.dockerignore next to the Dockerfile", async () => {
    expect(await readDockerignore(dir, "docker/app.Dockerfile")).toEqual(["specific", "!keep"]);
    expect((await locateDockerignore(dir, "docker/app.Dockerfile"))?.path).toBe(
      path.join(dir, "docker", "app.Dockerfile.dockerignore"),
    );
  });
  it("falls back to .dockerignore at the context root", async () => {
    expect(await readDockerignore(dir, "Dockerfile")).toEqual(["generic"]);
    expect(await readDockerignore(dir)).toEqual(["generic"]);
  });
  it("gives no patterns when there is no file", async () => {
    expect(await readDockerignore(path.join(dir, "docker"))).toEqual([]);
    expect(await locateDockerignore(path.join(dir, "missing"))).toBeUndefined();
  });
});
