// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Dockerfile and shell syntax, not templates
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuildPlan, formatPlan, type PlanBuildOptions, planBuild } from "../src/dockerfile/index.js";
import { type CairnError, isCairnError } from "../src/errors/index.js";

const AMD64 = "linux/amd64";

function plan(dockerfile: string, options: Omit<PlanBuildOptions, "dockerfile"> = {}): Promise<BuildPlan> {
  return planBuild({ platform: AMD64, buildPlatform: AMD64, ...options, dockerfile });
}

async function planError(
  dockerfile: string,
  options: Omit<PlanBuildOptions, "dockerfile"> = {},
): Promise<CairnError> {
  try {
    await plan(dockerfile, options);
  } catch (err) {
    if (isCairnError(err)) return err;
    throw err;
  }
  throw new Error("expected the plan to fail");
}

const MULTI = [
  "ARG BASE=alpine:3.20",
  "FROM $BASE AS deps",
  "RUN apk add make",
  "FROM deps AS build",
  "COPY --from=tools /bin/tool /usr/bin/",
  "RUN --mount=type=cache,target=/cache,from=cachestage make",
  "FROM busybox AS tools",
  "FROM scratch AS cachestage",
  "FROM alpine AS unused",
  "RUN false",
  "FROM scratch",
  "COPY --from=build /out /",
  "COPY --from=0 /etc/os-release /",
].join("\n");

describe("planBuild: stages and dependencies", () => {
  it("keeps the stages the target needs, dependencies first", async () => {
    const p = await plan(MULTI);
    expect(p.target).toEqual({ stage: 5 });
    expect(p.stages.map((s) => s.name ?? s.index)).toEqual(["deps", "tools", "cachestage", "build", 5]);
    expect(p.skippedStages).toEqual([{ index: 4, name: "unused" }]);
    const build = p.stages.find((s) => s.name === "build");
    expect(build?.base).toEqual({ kind: "stage", stage: 0, stageName: "deps" });
    expect(build?.dependsOn).toEqual([
      { via: "FROM", line: 4, stage: 0 },
      { via: "COPY --from", line: 5, stage: 2 },
      { via: "RUN --mount", line: 6, stage: 3 },
    ]);
    const last = p.stages.at(-1);
    expect(last?.base).toEqual({ kind: "scratch" });
    expect(last?.steps[1]?.sources).toEqual([
      { kind: "stage", stage: 0, stageName: "deps", path: "/etc/os-release" },
    ]);
    expect(p.stages[0]?.base).toEqual({
      kind: "image",
      image: "alpine:3.20",
      reference: "docker.io/library/alpine:3.20",
    });
  });
  it("builds only what a named target needs", async () => {
    const p = await plan(MULTI, { target: "Build" });
    expect(p.target).toEqual({ stage: 1, name: "build" });
    expect(p.stages.map((s) => s.index)).toEqual([0, 2, 3, 1]);
    expect(p.skippedStages.map((s) => s.index)).toEqual([4, 5]);
  });
  it("uses build args in FROM lines", async () => {
    const p = await plan(MULTI, { target: "deps", buildArgs: { BASE: "debian:12" } });
    expect(p.stages[0]?.base).toMatchObject({ image: "debian:12", reference: "docker.io/library/debian:12" });
    expect(p.globalArgs.BASE).toBe("debian:12");
  });
  it("reports unknown targets, cycles and bad references", async () => {
    const target = await planError(MULTI, { target: "nope" });
    expect(target.code).toBe("E_USAGE");
    expect(target.message).toContain('target stage "nope" could not be found');
    const cycle = await planError(
      "FROM alpine AS a\nCOPY --from=b / /\nFROM alpine AS b\nCOPY --from=a / /\n",
    );
    expect(cycle.message).toMatch(/circular dependency detected on stage: [ab]/);
    expect((await planError("FROM alpine\nCOPY --from=$X / /\n")).message).toContain(
      "variable expansion is not supported for --from",
    );
    expect((await planError("FROM alpine\nCOPY --from=3 / /\n")).message).toContain("invalid stage index 3");
    expect((await planError("FROM alpine\nCOPY --from=Bad:Ref:x / /\n")).message).toContain(
      "invalid from flag value",
    );
    expect((await planError("FROM $NOPE\n")).message).toMatch(
      /^Dockerfile line 1, column 6: base name \(\$NOPE\) should not be blank/,
    );
    expect((await planError("FROM a AS x\nFROM b AS x\n")).message).toContain('duplicate stage name "x"');
  });
});

describe("planBuild: ARG and ENV scoping", () => {
  it("global ARGs reach a stage only when declared there", async () => {
    const p = await plan(
      [
        "ARG V=1",
        "ARG W",
        "FROM alpine",
        "RUN echo $V",
        "ARG V",
        "ARG W",
        "RUN echo $V",
        "ENV E=$V-${W:-none}",
      ].join("\n"),
    );
    const [first, , , second, env] = p.stages[0]?.steps ?? [];
    expect(first?.environment?.V).toBeUndefined();
    expect(second?.environment?.V).toBe("1");
    expect(second?.environment).not.toHaveProperty("W");
    expect(env?.instruction).toMatchObject({ pairs: [{ key: "E", value: "1-none" }] });
    expect(p.stages[0]?.args).toEqual({ V: "1" });
  });
  it("stage ARG defaults, build-arg overrides and scope ending at the stage", async () => {
    const df = ["FROM alpine AS a", "ARG X=default", "ARG Y=$X-y", "RUN true", "FROM a", "RUN echo $X"].join(
      "\n",
    );
    const p = await plan(df, { buildArgs: { X: "cli" } });
    expect(p.stages[0]?.steps[2]?.environment).toMatchObject({ X: "cli", Y: "cli-y" });
    expect(p.stages[1]?.steps[0]?.environment).not.toHaveProperty("X");
    const q = await plan(df);
    expect(q.stages[0]?.args).toEqual({ X: "default", Y: "default-y" });
  });
  it("ENV overrides an ARG of the same name and stays in the image config", async () => {
    const p = await plan("FROM alpine\nARG V=arg\nENV V=env\nRUN echo\n", { buildArgs: { V: "cli" } });
    expect(p.stages[0]?.steps[2]?.environment?.V).toBe("env");
    expect(p.stages[0]?.config.env).toContain("V=env");
    expect(p.stages[0]?.config.env.some((e) => e.startsWith("PATH="))).toBe(true);
  });
  it("ENV pairs in one instruction see the values before it", async () => {
    const p = await plan("FROM alpine\nENV abc=hello\nENV abc=bye def=$abc\n");
    expect(p.stages[0]?.steps[1]?.instruction).toMatchObject({
      pairs: [
        { key: "abc", value: "bye" },
        { key: "def", value: "hello" },
      ],
    });
  });
  it("provides the automatic platform ARGs", async () => {
    const df = [
      "FROM --platform=$BUILDPLATFORM golang AS build",
      "ARG TARGETOS TARGETARCH TARGETVARIANT BUILDPLATFORM TARGETPLATFORM",
      "RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build",
      "FROM alpine",
      "COPY --from=build /out /",
    ].join("\n");
    const p = await plan(df, { platform: "linux/arm/v7", buildPlatform: "linux/amd64" });
    expect(p.platform).toBe("linux/arm/v7");
    expect(p.stages[0]?.platform).toBe("linux/amd64");
    expect(p.stages[1]?.platform).toBe("linux/arm/v7");
    expect(p.stages[0]?.args).toEqual({
      TARGETOS: "linux",
      TARGETARCH: "arm",
      TARGETVARIANT: "v7",
      BUILDPLATFORM: "linux/amd64",
      TARGETPLATFORM: "linux/arm/v7",
    });
    expect(p.stages[0]?.steps[1]?.argv).toEqual([
      "/bin/sh",
      "-c",
      "GOOS=$TARGETOS GOARCH=$TARGETARCH go build",
    ]);
  });
  it("keeps undeclared proxy args out of the cache key and reports unused build args", async () => {
    const df = "FROM alpine\nRUN apk add curl\n";
    const a = await plan(df, { buildArgs: { HTTP_PROXY: "http://proxy:3128", UNUSED: "x" } });
    const b = await plan(df);
    expect(a.stages[0]?.steps[0]?.proxyEnv).toEqual({ HTTP_PROXY: "http://proxy:3128" });
    expect(a.stages[0]?.steps[0]?.environment).not.toHaveProperty("HTTP_PROXY");
    expect(a.stages[0]?.cacheKey).toBe(b.stages[0]?.cacheKey);
    expect(a.unusedBuildArgs).toEqual(["UNUSED"]);
  });
});

describe("planBuild: expanded steps", () => {
  it("expands where Docker expands and leaves RUN to the shell", async () => {
    const df = [
      "FROM alpine",
      "ENV APP=/srv/app PORTS='80 443/udp' SIG=SIGQUIT",
      "WORKDIR $APP",
      "WORKDIR sub/../bin",
      "USER ${UID:-1000}",
      "LABEL version=${VERSION:-dev}",
      "EXPOSE $PORTS 8080",
      "VOLUME $APP/data",
      "STOPSIGNAL $SIG",
      "RUN echo $APP",
      'CMD ["run", "$APP"]',
      'SHELL ["/bin/bash", "-c"]',
      "ENTRYPOINT exec app",
      "HEALTHCHECK --interval=30s CMD curl -f localhost",
      "ONBUILD COPY . /src",
    ].join("\n");
    const p = await plan(df);
    const stage = p.stages[0];
    expect(stage?.config).toMatchObject({
      workingDir: "/srv/app/bin",
      user: "1000",
      labels: { version: "dev" },
      exposedPorts: ["443/udp", "80/tcp", "8080/tcp"],
      volumes: ["/srv/app/data"],
      stopSignal: "SIGQUIT",
      shell: ["/bin/bash", "-c"],
      entrypoint: ["/bin/bash", "-c", "exec app"],
      healthcheck: { Test: ["CMD-SHELL", "curl -f localhost"], Interval: 30e9 },
      onBuild: ["COPY . /src"],
    });
    // CMD set earlier in the same stage survives ENTRYPOINT; only an inherited CMD is cleared.
    expect(stage?.config.cmd).toEqual(["run", "$APP"]);
    const run = stage?.steps[8];
    expect(run?.argv).toEqual(["/bin/sh", "-c", "echo $APP"]);
    expect(run?.workingDir).toBe("/srv/app/bin");
    expect(run?.user).toBe("1000");
    expect(stage?.steps[5]?.instruction).toMatchObject({ ports: ["80", "443/udp", "8080"] });
  });
  it("runs heredoc scripts through the shell", async () => {
    const p = await plan("FROM alpine\nRUN <<EOF\necho $HOME\nEOF\nRUN cat <<A > /x\nhi\nA\n");
    expect(p.stages[0]?.steps[0]?.argv).toEqual(["/bin/sh", "-c", "echo $HOME\n"]);
    expect(p.stages[0]?.steps[1]?.argv).toEqual(["/bin/sh", "-c", "cat <<A > /x\nhi\nA"]);
  });
  it("expands mounts and COPY heredocs unless quoted", async () => {
    const df =
      "FROM alpine\nARG D=/cache\nRUN --mount=type=cache,target=$D make\nCOPY <<A <<'B' /\n$D\nA\n$D\nB\n";
    const p = await plan(df);
    expect(p.stages[0]?.steps[1]?.mounts).toEqual([
      { type: "cache", target: "/cache", id: "/cache", readonly: false },
    ]);
    const copy = p.stages[0]?.steps[2];
    expect(copy?.instruction).toMatchObject({
      contents: [
        { name: "A", data: "/cache\n" },
        { name: "B", data: "$D\n" },
      ],
    });
    expect(copy?.sources?.map((s) => s.kind)).toEqual(["inline", "inline"]);
  });
  it("checks values after expansion, at the line", async () => {
    const chmod = await planError("FROM alpine\nARG M=999\nCOPY --chmod=$M a /b\n");
    expect(chmod.message).toMatch(/^Dockerfile line 3, column \d+: invalid chmod parameter: 999/);
    const sig = await planError("FROM alpine\nENV S=SIGNOPE\nSTOPSIGNAL $S\n");
    expect(sig.message).toContain("Invalid signal: SIGNOPE");
    const port = await planError("FROM alpine\nEXPOSE ${P:-80/icmp}\n");
    expect(port.message).toContain("invalid proto: icmp");
    const required = await planError("FROM alpine\nWORKDIR ${DIR:?set DIR}\n");
    expect(required.message).toMatch(
      /^Dockerfile line 2, column 9: failed to process "\$\{DIR:\?set DIR\}": DIR: set DIR/,
    );
  });
  it("gives stable, input-sensitive cache keys", async () => {
    const a = await plan("FROM alpine\nRUN echo a\nRUN echo b\n");
    const b = await plan("# moved\nFROM alpine\n\nRUN echo a\nRUN echo b\n");
    const c = await plan("FROM alpine\nRUN echo A\nRUN echo b\n");
    expect(b.stages[0]?.cacheKey).toBe(a.stages[0]?.cacheKey);
    expect(c.stages[0]?.steps[1]?.cacheKey).not.toBe(a.stages[0]?.steps[1]?.cacheKey);
    expect(a.stages[0]?.steps[1]?.parent).toBe(a.stages[0]?.steps[0]?.cacheKey);
    const d = await plan("FROM alpine\nRUN echo a\nRUN echo b\n", { platform: "linux/arm64" });
    expect(d.stages[0]?.cacheKey).not.toBe(a.stages[0]?.cacheKey);
  });
  it("starts from a resolved base image", async () => {
    const p = await plan("FROM alpine\nENV PATH=$PATH:/opt/bin\nRUN x\n", {
      resolveImage: async () => ({
        digest: `sha256:${"a".repeat(64)}`,
        config: { Env: ["PATH=/bin", "HOME=/root"], WorkingDir: "/w", User: "app" },
      }),
    });
    expect(p.stages[0]?.base).toMatchObject({ digest: `sha256:${"a".repeat(64)}` });
    expect(p.stages[0]?.config).toMatchObject({
      env: ["PATH=/bin:/opt/bin", "HOME=/root"],
      workingDir: "/w",
      user: "app",
    });
  });
  it("is plain JSON and has a text form", async () => {
    const p = await plan(MULTI);
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
    const text = formatPlan(p);
    expect(text).toContain("target: stage 5");
    expect(text).toContain("stage 1 (build): FROM stage deps [linux/amd64]");
    expect(text).toContain("skipped stages: unused");
  });
});

describe("planBuild: build context", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cairn-plan-"));
    await mkdir(path.join(dir, "src", "lib"), { recursive: true });
    await mkdir(path.join(dir, "node_modules", "x"), { recursive: true });
    await writeFile(path.join(dir, "src", "a.ts"), "a");
    await writeFile(path.join(dir, "src", "lib", "b.ts"), "b");
    await writeFile(path.join(dir, "src", "notes.md"), "notes");
    await writeFile(path.join(dir, "node_modules", "x", "i.js"), "i");
    await writeFile(path.join(dir, "secret.env"), "s");
    await writeFile(path.join(dir, ".dockerignore"), "node_modules\n*.env\n");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const DF =
    "FROM alpine\nCOPY src /app/src\nCOPY src/*.ts requirements*.txt /app/\nCOPY --exclude=**/*.md . /ctx\n";
  it("digests COPY sources after .dockerignore", async () => {
    const p = await plan(DF, { context: dir });
    expect(p.dockerignore).toEqual({
      file: path.join(dir, ".dockerignore"),
      patterns: ["node_modules", "*.env"],
    });
    const [src, glob, all] = p.stages[0]?.steps ?? [];
    expect(src?.sources).toEqual([
      expect.objectContaining({ kind: "context", path: "src", matched: ["src"], entries: 5 }),
    ]);
    expect(glob?.sources?.map((s) => (s.kind === "context" ? s.matched : []))).toEqual([["src/a.ts"], []]);
    const ctx = all?.sources?.[0];
    expect(ctx).toMatchObject({ kind: "context", path: ".", matched: ["."] });
    expect(ctx?.kind === "context" && ctx.entries).toBe(5);
  });
  it("changes keys only when included content changes", async () => {
    const before = await plan(DF, { context: dir });
    await writeFile(path.join(dir, "node_modules", "x", "i.js"), "changed");
    await writeFile(path.join(dir, "src", "notes.md"), "changed notes");
    const ignoredChange = await plan(DF, { context: dir });
    expect(ignoredChange.stages[0]?.steps[2]?.sources).toEqual(before.stages[0]?.steps[2]?.sources);
    expect(ignoredChange.stages[0]?.steps[0]?.cacheKey).not.toBe(before.stages[0]?.steps[0]?.cacheKey);
    expect(ignoredChange.stages[0]?.steps[1]?.sources).toEqual(before.stages[0]?.steps[1]?.sources);
    await writeFile(path.join(dir, "src", "a.ts"), "a2");
    const changed = await plan(DF, { context: dir });
    expect(changed.stages[0]?.steps[2]?.sources).not.toEqual(before.stages[0]?.steps[2]?.sources);
    expect(changed.stages[0]?.steps[1]?.sources).not.toEqual(before.stages[0]?.steps[1]?.sources);
  });
  it("fails for sources that are missing or ignored", async () => {
    const err = await planError("FROM alpine\nCOPY secret.env /\n", { context: dir });
    expect(err.message).toMatch(
      /^Dockerfile line 2, column 6: COPY source "secret.env" not found in the build context/,
    );
    const ok = await plan("FROM alpine\nCOPY secret.env /\n", { context: dir, dockerignore: "" });
    expect(ok.stages[0]?.steps[0]?.sources?.[0]).toMatchObject({ matched: ["secret.env"], entries: 1 });
  });
  it("classifies ADD sources", async () => {
    const p = await plan(
      "FROM alpine\nADD --checksum=sha256:abc https://example.com/a.tgz /a\nADD https://github.com/x/y.git /y\nADD git@github.com:x/y.git /z\n",
      { context: dir },
    );
    expect(p.stages[0]?.steps.map((s) => s.sources?.[0])).toEqual([
      { kind: "url", url: "https://example.com/a.tgz", checksum: "sha256:abc" },
      { kind: "git", url: "https://github.com/x/y.git" },
      { kind: "git", url: "git@github.com:x/y.git" },
    ]);
  });
});
