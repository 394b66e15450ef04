// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Dockerfile syntax, not templates
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build, goDuration, goQuoteRune } from "../src/build/index.js";
import { isCairnError } from "../src/errors/index.js";
import { ImageLayout, openDockerArchive } from "../src/image/index.js";
import {
  buildText,
  busyboxLayout,
  cleanup,
  configOf,
  fileText,
  recorder,
  tempDir,
  treeOf,
  umociUnpack,
  vertices,
  writeTree,
} from "./build-helpers.js";
import { requireTool } from "./helpers/tools.js";

const EPOCH = 1_700_000_000;
const ISO = "2023-11-14T22:13:20Z";

let root: string;
let base: string;
let ctx: string;

beforeAll(() => {
  root = tempDir("core");
  base = busyboxLayout(path.join(root, "base"));
  ctx = writeTree(path.join(root, "ctx"), {
    "app/main.sh": { data: "echo main\n", mode: 0o755 },
    "app/lib/util.sh": "echo util\n",
    "README.md": "readme\n",
    "secret.key": "do not ship\n",
    "logs/a.log": "log\n",
  });
});

afterAll(() => cleanup(root));

describe("history text", () => {
  it("formats durations and retries as Go prints them", () => {
    expect(goDuration(0)).toBe("0s");
    expect(goDuration(1_500_000_000)).toBe("1.5s");
    expect(goDuration(90_000_000_000)).toBe("1m30s");
    expect(goDuration(3_600_000_000_000)).toBe("1h0m0s");
    expect(goDuration(1_500_000)).toBe("1.5ms");
    expect(goDuration(2_000)).toBe("2µs");
    expect(goQuoteRune(3)).toBe("'\\x03'");
    expect(goQuoteRune(65)).toBe("'A'");
  });
});

describe("config-only instructions", () => {
  it("set the config and history as BuildKit writes them, with no layers", async () => {
    const store = tempDir("store");
    try {
      const df = [
        "FROM scratch",
        "ARG NAME=world",
        "ENV GREETING=hello WHO=${NAME}",
        'LABEL org.example.title="demo app" version=1',
        "USER nobody",
        "EXPOSE 80 53/udp",
        "VOLUME /data /logs",
        'SHELL ["/bin/bash", "-c"]',
        "CMD echo $GREETING",
        "HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD curl -f http://localhost/",
        "STOPSIGNAL SIGKILL",
        "ONBUILD RUN echo triggered",
        "MAINTAINER someone@example.com",
        'ENTRYPOINT ["/entry"]',
      ].join("\n");
      const r = await buildText(df, ctx, store, { sourceDateEpoch: EPOCH });
      const config = await configOf(r.image);
      expect(config.rootfs.diff_ids).toEqual([]);
      expect(config.created).toBe(ISO);
      expect(config.author).toBe("someone@example.com");
      expect(config.config).toEqual({
        User: "nobody",
        ExposedPorts: { "53/udp": {}, "80/tcp": {} },
        Env: [
          "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          "GREETING=hello",
          "WHO=world",
        ],
        Entrypoint: ["/entry"],
        Cmd: ["/bin/bash", "-c", "echo $GREETING"],
        Volumes: { "/data": {}, "/logs": {} },
        WorkingDir: "/",
        Labels: { "org.example.title": "demo app", version: "1" },
        StopSignal: "SIGKILL",
        Healthcheck: {
          Test: ["CMD-SHELL", "curl -f http://localhost/"],
          Interval: 30_000_000_000,
          Timeout: 3_000_000_000,
          Retries: 3,
        },
        OnBuild: ["RUN echo triggered"],
        Shell: ["/bin/bash", "-c"],
      });
      expect(config.history?.map((h) => h.created_by)).toEqual([
        "ARG NAME=world",
        "ENV GREETING=hello WHO=world",
        "LABEL org.example.title=demo app version=1",
        "USER nobody",
        "EXPOSE map[53/udp:{} 80/tcp:{}]",
        "VOLUME [/data /logs]",
        "SHELL [/bin/bash -c]",
        'CMD ["/bin/bash" "-c" "echo $GREETING"]',
        `HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/"] "30s" "3s" "0s" "0s" '\\x03'}`,
        "STOPSIGNAL SIGKILL",
        "MAINTAINER someone@example.com",
        'ENTRYPOINT ["/entry"]',
      ]);
      for (const h of config.history ?? []) {
        expect(h).toMatchObject({ created: ISO, comment: "buildkit.dockerfile.v0", empty_layer: true });
      }
    } finally {
      cleanup(store);
    }
  });

  it("ENTRYPOINT drops an inherited CMD; CMD after it is kept; shell forms use SHELL", async () => {
    const store = tempDir("store");
    try {
      const first = await buildText('FROM scratch\nCMD ["a"]\nENTRYPOINT top -b\n', ctx, store);
      expect((await configOf(first.image)).config).toMatchObject({
        Entrypoint: ["/bin/sh", "-c", "top -b"],
        Cmd: ["a"],
      });
      await (await ImageLayout.open(store)).write(first.image, { tag: "with-cmd" });
      const child = await buildText('FROM with-cmd\nENTRYPOINT ["/x"]\n', ctx, store);
      const c = (await configOf(child.image)).config ?? {};
      expect(c.Entrypoint).toEqual(["/x"]);
      expect(c.Cmd).toBeUndefined();
    } finally {
      cleanup(store);
    }
  });

  it("gives a stage whose base image has no PATH the default PATH, as BuildKit does", async () => {
    const store = tempDir("store");
    try {
      const r = await buildText(`FROM ${base}\nENV B=2\n`, ctx, store);
      expect((await configOf(r.image)).config?.Env).toEqual([
        "A=1",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "B=2",
      ]);
    } finally {
      cleanup(store);
    }
  });

  it("ONBUILD triggers run when the image is used as a base, and are not inherited", async () => {
    const store = tempDir("store");
    try {
      const parent = await buildText(
        "FROM scratch\nONBUILD COPY README.md /from-trigger.md\nONBUILD ENV TRIGGERED=yes\n",
        ctx,
        store,
      );
      await (await ImageLayout.open(store)).write(parent.image, { tag: "onbuild-parent" });
      const child = await buildText("FROM onbuild-parent\nLABEL child=1\n", ctx, store);
      expect(await fileText(child.image, "from-trigger.md")).toBe("readme\n");
      const c = (await configOf(child.image)).config ?? {};
      expect(c.Env).toContain("TRIGGERED=yes");
      expect(c.OnBuild).toBeUndefined();
    } finally {
      cleanup(store);
    }
  });
});

describe("WORKDIR", () => {
  it("makes a layer only when it creates directories, owned by the USER", async () => {
    const store = tempDir("store");
    const b = busyboxLayout(tempDir("wbase"), "app:x:1000:1000::/home/app:/bin/sh\n");
    try {
      const r = await buildText(
        `FROM ${b}\nWORKDIR /tmp\nUSER app\nWORKDIR /srv/app\nWORKDIR sub\n`,
        ctx,
        store,
      );
      const config = await configOf(r.image);
      expect(config.config?.WorkingDir).toBe("/srv/app/sub");
      const ours = (config.history ?? []).slice(-4);
      expect(ours.map((h) => [h.created_by, h.empty_layer === true])).toEqual([
        ["WORKDIR /tmp", true],
        ["USER app", true],
        ["WORKDIR /srv/app", false],
        ["WORKDIR /srv/app/sub", false],
      ]);
      const tree = await treeOf(r.image);
      expect(tree.lstat("srv/app")).toMatchObject({ type: "directory", mode: 0o755, uid: 1000, gid: 1000 });
      expect(tree.lstat("srv/app/sub")).toMatchObject({ uid: 1000, gid: 1000 });
      await tree.close();
    } finally {
      cleanup(store);
    }
  });
});

describe("multi-stage", () => {
  it("skips stages the target does not need (their RUN needs no runtime) and copies between stages", async () => {
    const store = tempDir("store");
    try {
      const df = [
        `FROM ${base} AS unused`,
        "RUN exit 1",
        "FROM scratch AS files",
        "COPY --chown=1234:99 --chmod=750 app/main.sh /out/run.sh",
        "FROM scratch AS other",
        "COPY README.md /",
        "FROM files",
        "COPY --from=other /README.md /docs/",
        "COPY --from=files /out /bin2",
      ].join("\n");
      const { events, onProgress } = recorder();
      const r = await buildText(df, ctx, store, { onProgress });
      expect(r.plan.skippedStages).toEqual([{ index: 0, name: "unused" }]);
      const tree = await treeOf(r.image);
      expect(tree.lstat("out/run.sh")).toMatchObject({ mode: 0o750, uid: 1234, gid: 99 });
      expect(tree.lstat("bin2/run.sh")).toMatchObject({ mode: 0o750, uid: 1234, gid: 99 });
      expect(tree.lstat("docs/README.md")).toMatchObject({ type: "file", uid: 0, gid: 0 });
      await tree.close();
      const names = vertices(events).map((v) => v.name);
      expect(names.some((n) => n.includes("RUN exit 1"))).toBe(false);
      expect(names).toContain("[files 2/2] COPY --chown=1234:99 --chmod=750 app/main.sh /out/run.sh");
    } finally {
      cleanup(store);
    }
  });

  it("runs independent stages concurrently", async () => {
    const store = tempDir("store");
    try {
      const df = [
        `FROM ${base} AS a`,
        "COPY app /a",
        `FROM ${base} AS b`,
        "COPY app /b",
        "FROM scratch",
        "COPY --from=a /a /a",
        "COPY --from=b /b /b",
      ].join("\n");
      const order: string[] = [];
      await buildText(df, ctx, store, {
        onProgress: (e) => {
          if (e.kind === "vertex-start") order.push(`start ${e.name}`);
        },
      });
      // Both stages' FROM start before either stage's COPY: they run side by side.
      const firstCopy = order.findIndex((o) => o.includes("COPY app"));
      expect(order.slice(0, firstCopy).filter((o) => o.includes("FROM")).length).toBe(2);
    } finally {
      cleanup(store);
    }
  });
});

describe("E_NO_RUNTIME", () => {
  it("fails at plan time, naming the RUN line, before any step runs", async () => {
    const store = tempDir("store");
    try {
      const { events, onProgress } = recorder();
      const err = await buildText(`FROM ${base}\nCOPY README.md /\nRUN echo hi\n`, ctx, store, {
        onProgress,
      }).catch((e: unknown) => e);
      expect(isCairnError(err, "E_NO_RUNTIME")).toBe(true);
      expect((err as Error).message).toContain("Dockerfile line 3: RUN echo hi");
      expect(events.filter((e) => e.kind === "vertex-start")).toEqual([]);
      expect(existsSync(path.join(store, "cairn-build/cache"))).toBe(false);
    } finally {
      cleanup(store);
    }
  });
});

describe("build args and .dockerignore", () => {
  it("uses --build-arg values and leaves ignored files out of COPY", async () => {
    const store = tempDir("store");
    const c = writeTree(tempDir("ctx"), {
      ".dockerignore": "*.key\nlogs\n!logs/keep.log\n",
      "a.txt": "a\n",
      "b.key": "secret\n",
      "logs/x.log": "x\n",
      "logs/keep.log": "keep\n",
    });
    try {
      const df = "FROM scratch\nARG DEST=/default\nCOPY . ${DEST}/\n";
      const r = await buildText(df, c, store, { buildArgs: { DEST: "/given" } });
      const tree = await treeOf(r.image);
      expect(tree.list("given")).toEqual([".dockerignore", "a.txt", "logs"]);
      expect(tree.list("given/logs")).toEqual(["keep.log"]);
      await tree.close();
      const history = (await configOf(r.image)).history ?? [];
      expect(history.map((h) => h.created_by)).toEqual(["ARG DEST=/given", "COPY . /given/ # buildkit"]);
    } finally {
      cleanup(store, c);
    }
  });
});

describe("the step cache", () => {
  const df = [
    `FROM ${"BASE"}`,
    "ARG V=1",
    "COPY README.md /r.md",
    "RUN_PLACEHOLDER",
    "COPY app /app",
    "ENV V=${V}",
    "COPY secret.key /k",
  ]
    .filter((l) => l !== "RUN_PLACEHOLDER")
    .join("\n");

  it("replays every step on a rebuild, reruns from the first changed input, and --no-cache reruns all", async () => {
    const store = tempDir("store");
    const c = writeTree(tempDir("ctx"), {
      "README.md": "r\n",
      "app/x": "x\n",
      "secret.key": "k\n",
    });
    const text = df.replace("BASE", base);
    try {
      const run = async (options: Parameters<typeof buildText>[3] = {}) => {
        const { events, onProgress } = recorder();
        const r = await buildText(text, c, store, { onProgress, ...options });
        return { r, v: vertices(events).filter((x) => !x.name.startsWith("exporting")) };
      };
      const first = await run();
      expect(first.v.map((x) => x.cached)).toEqual([true, false, false, false]);
      const second = await run();
      expect(second.v.map((x) => x.cached)).toEqual([true, true, true, true]);
      expect(second.r.digest).toBe(first.r.digest);
      expect(second.r.steps.every((s) => s.cached)).toBe(true);

      writeFileSync(path.join(c, "app/x"), "changed\n");
      const third = await run();
      expect(third.v.map((x) => x.cached)).toEqual([true, true, false, false]);
      expect(third.r.digest).not.toBe(first.r.digest);
      expect(third.r.steps.map((s) => s.reason)).toEqual([
        undefined,
        undefined,
        "source app changed",
        "an earlier step changed",
        "an earlier step changed",
      ]);

      const argChanged = await run({ buildArgs: { V: "2" } });
      expect(argChanged.r.steps.map((s) => s.cached)).toEqual([false, false, false, false, false]);
      expect(argChanged.r.steps[0]?.reason).toBe("build arg V changed");

      const noCache = await run({ noCache: true });
      expect(noCache.v.slice(1).map((x) => x.cached)).toEqual([false, false, false]);
    } finally {
      cleanup(store, c);
    }
  });

  it("gives byte-identical digests across fresh stores and between cached and uncached builds", async () => {
    const stores = [tempDir("s1"), tempDir("s2")];
    const text = `FROM ${base}\nWORKDIR /app\nCOPY app/ ./\nCOPY --chmod=600 README.md /etc/\nENV A=1\nCMD ["/app/main.sh"]\n`;
    try {
      const a = await buildText(text, ctx, stores[0] as string, { sourceDateEpoch: EPOCH });
      const b = await buildText(text, ctx, stores[1] as string, { sourceDateEpoch: EPOCH });
      const cached = await buildText(text, ctx, stores[0] as string, { sourceDateEpoch: EPOCH });
      const uncached = await buildText(text, ctx, stores[0] as string, {
        sourceDateEpoch: EPOCH,
        noCache: true,
      });
      expect(cached.steps.every((s) => s.cached)).toBe(true);
      expect(uncached.steps.some((s) => s.cached)).toBe(false);
      expect(new Set([a.digest, b.digest, cached.digest, uncached.digest]).size).toBe(1);
      const other = await buildText(text, ctx, stores[1] as string, { sourceDateEpoch: EPOCH + 1 });
      expect(other.digest).not.toBe(a.digest);
    } finally {
      cleanup(...stores);
    }
  });

  it("treats a cache entry whose layer blob was collected as a miss", async () => {
    const store = tempDir("store");
    try {
      const text = "FROM scratch\nCOPY README.md /\n";
      const first = await buildText(text, ctx, store);
      const layout = await ImageLayout.open(store);
      await layout.store.gc({ gracePeriodMs: 0 });
      const again = await buildText(text, ctx, store);
      expect(again.steps.map((s) => s.cached)).toEqual([false]);
      expect(again.digest).not.toBe("");
      expect((await first.image.config()).rootfs).toEqual((await again.image.config()).rootfs);
    } finally {
      cleanup(store);
    }
  });
});

describe("platforms", () => {
  it("builds for --platform and FROM --platform", async () => {
    const store = tempDir("store");
    try {
      const arm = await buildText("FROM scratch\nCOPY README.md /\n", ctx, store, {
        platform: "linux/arm64",
      });
      expect(await configOf(arm.image)).toMatchObject({ architecture: "arm64", os: "linux" });
      const pinned = await buildText("FROM --platform=linux/s390x scratch\nCOPY README.md /\n", ctx, store);
      expect((await configOf(pinned.image)).architecture).toBe("s390x");
      expect((await pinned.image.descriptor()).platform).toMatchObject({ architecture: "s390x" });
    } finally {
      cleanup(store);
    }
  });
});

describe("outputs", () => {
  it("tags the default store, writes oci: and docker-archive: that skopeo and umoci read", async () => {
    requireTool("skopeo");
    const store = tempDir("store");
    const out = tempDir("out");
    try {
      const layoutDir = path.join(out, "layout");
      const archive = path.join(out, "image.tar");
      const r = await build({
        context: ctx,
        dockerfileText: `FROM ${base}\nCOPY app /app\nUSER nobody\nCMD ["/app/main.sh"]\n`,
        store,
        registry: false,
        tags: ["example/app:1.0"],
        output: [`oci:${layoutDir}:v1`, `docker-archive:${archive}`],
        sourceDateEpoch: EPOCH,
      });
      expect(r.outputs).toEqual(["example/app:1.0", `oci:${layoutDir}:v1`, `docker-archive:${archive}`]);
      const tagged = await (await ImageLayout.open(store)).image("docker.io/example/app:1.0");
      expect(await tagged.digest()).toBe(r.digest);

      const inspect = JSON.parse(
        execFileSync("skopeo", ["inspect", `oci:${layoutDir}:v1`], { encoding: "utf8" }),
      ) as { Digest: string; Layers: string[] };
      expect(inspect.Digest).toBe(r.digest);
      expect(inspect.Layers).toHaveLength(2);
      const fromArchive = JSON.parse(
        execFileSync("skopeo", ["inspect", `docker-archive:${archive}`], { encoding: "utf8" }),
      ) as { Layers: string[] };
      expect(fromArchive.Layers).toHaveLength(2);
      const archived = await openDockerArchive(archive);
      expect(archived.entries[0]?.RepoTags).toEqual(["example/app:1.0"]);

      const files = await umociUnpack(layoutDir, "v1", ["app/main.sh", "app/lib/util.sh", "bin/busybox"]);
      expect(files["app/main.sh"]).toMatchObject({
        type: "file",
        mode: "755",
        owner: "0:0",
        text: "echo main\n",
      });
      expect(files["app/lib/util.sh"]).toMatchObject({ text: "echo util\n" });
      expect(files["bin/busybox"]?.type).toBe("file");
    } finally {
      cleanup(store, out);
    }
  });
});

describe("errors", () => {
  it("names the Dockerfile line of a failing step", async () => {
    const store = tempDir("store");
    try {
      const err = await buildText(
        "FROM scratch\nCOPY README.md /x\nCOPY app/main.sh /x/y\n",
        ctx,
        store,
      ).catch((e: unknown) => e);
      expect(isCairnError(err, "E_BUILD_FAILED")).toBe(true);
      expect((err as Error).message).toMatch(
        /^Dockerfile line 3: COPY app\/main.sh \/x\/y: COPY: cannot create directory \/x/,
      );
    } finally {
      cleanup(store);
    }
  });

  it("reports a missing base image", async () => {
    const store = tempDir("store");
    try {
      const err = await buildText("FROM nothing-here:1\n", ctx, store).catch((e: unknown) => e);
      expect(isCairnError(err, "E_NOT_FOUND")).toBe(true);
      expect((err as Error).message).toContain("nothing-here:1");
      expect(readdirSync(store)).not.toContain("cairn-build");
    } finally {
      cleanup(store);
    }
  });
});
