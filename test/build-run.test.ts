import { createHash } from "node:crypto";
import path from "node:path";
import { createGunzip } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BuildRuntime } from "../src/build/index.js";
import { isCairnError } from "../src/errors/index.js";
import type { Image } from "../src/image/index.js";
import { readTar } from "../src/layer/index.js";
import { detectRuntime } from "../src/runtime/index.js";
import {
  buildText,
  busyboxLayout,
  cleanup,
  configOf,
  recorder,
  tempDir,
  treeOf,
  writeTree,
} from "./build-helpers.js";

const EPOCH = 1_700_000_000;
let root: string;
let base: string;
let ctx: string;
let store: string;
let runtime: BuildRuntime;

beforeAll(async () => {
  root = tempDir("run");
  base = busyboxLayout(path.join(root, "base"));
  ctx = writeTree(path.join(root, "ctx"), { "a.txt": "from context\n", "data/f": "stage file\n" });
  store = tempDir("run-store");
  runtime = await detectRuntime();
});

afterAll(() => cleanup(root, store));

/** Every path and file content of the image's layers (whiteouts included), as text. */
async function layerDump(image: Image): Promise<string> {
  let out = "";
  for (const layer of await image.layers()) {
    const tar = (await layer.open()).pipe(createGunzip());
    for await (const e of readTar(tar)) {
      out += `${e.header.name}\n`;
      for await (const c of e.body()) out += Buffer.from(c).toString("latin1");
    }
  }
  return out;
}

describe("RUN", () => {
  it("runs shell and exec forms with the stage's env, user and working directory", async () => {
    const df = [
      `FROM ${base}`,
      "ENV GREETING=hi",
      "USER nobody",
      "WORKDIR /w",
      "RUN echo $GREETING $(id -u) $(pwd) > out.txt",
      'RUN ["/bin/sh", "-c", "echo exec >> /w/out.txt"]',
    ].join("\n");
    const { events, onProgress } = recorder();
    const r = await buildText(df, ctx, store, { runtime, onProgress });
    const t = await treeOf(r.image);
    expect(await t.readText("w/out.txt")).toBe("hi 65534 /w\nexec\n");
    expect(t.lstat("w/out.txt")).toMatchObject({ uid: 65534 });
    const history = (await configOf(r.image)).history?.map((h) => h.created_by) ?? [];
    expect(history).toContain("RUN /bin/sh -c echo $GREETING $(id -u) $(pwd) > out.txt # buildkit");
    expect(history).toContain("RUN /bin/sh -c echo exec >> /w/out.txt # buildkit");
    expect(
      events.some(
        (e) => e.kind === "vertex-start" && e.name === "[3/4] RUN echo $GREETING $(id -u) $(pwd) > out.txt",
      ),
    ).toBe(true);
  });

  it("records deletions as whiteouts and leaves runtime mount points out of the layer", async () => {
    const r = await buildText(
      `FROM ${base}\nRUN rm /etc/group && mkdir -p /made && echo x > /made/x\n`,
      ctx,
      store,
      {
        runtime,
      },
    );
    const t = await treeOf(r.image);
    expect(t.lstat("etc/group")).toBeUndefined();
    expect(t.lstat("etc/passwd")?.type).toBe("file");
    const last = (await r.image.layers()).at(-1);
    if (!last) throw new Error("no layer");
    const top = await treeOf({ ...r.image, layers: async () => [last] });
    expect(top.list("")).toEqual(["etc", "made"]);
    const dump = await layerDump({ ...r.image, layers: async () => [last] });
    expect(dump).toContain("etc/.wh.group");
    expect(dump).not.toMatch(/^(proc|dev|sys)\//m);
  });

  it("prefixes build args in created_by, as BuildKit does", async () => {
    const r = await buildText(`FROM ${base}\nARG A=1\nARG B\nRUN true\n`, ctx, store, {
      runtime,
      buildArgs: { B: "two" },
    });
    const history = (await configOf(r.image)).history?.map((h) => h.created_by) ?? [];
    expect(history.at(-1)).toBe("RUN |2 A=1 B=two /bin/sh -c true # buildkit");
  });

  it("fails with the exit code and the Dockerfile line", async () => {
    const err = await buildText(`FROM ${base}\nRUN exit 3\n`, ctx, store, { runtime }).catch(
      (e: unknown) => e,
    );
    expect(isCairnError(err, "E_BUILD_FAILED")).toBe(true);
    expect((err as Error).message).toBe(
      'Dockerfile line 2: RUN exit 3: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3',
    );
  });

  it("fails with E_NO_RUNTIME when the runtime finder finds none", async () => {
    const err = await buildText(`FROM ${base}\nRUN true\n`, ctx, store, {
      runtime: async () => undefined,
    }).catch((e: unknown) => e);
    expect(isCairnError(err, "E_NO_RUNTIME")).toBe(true);
  });
});

describe("RUN --mount", () => {
  it("keeps cache mounts across builds, outside the image", async () => {
    const df = `FROM ${base}\nRUN --mount=type=cache,target=/cache,id=run-test echo x >> /cache/log && /bin/busybox wc -l < /cache/log > /count\n`;
    const first = await buildText(df, ctx, store, { runtime, noCache: true });
    const second = await buildText(df, ctx, store, { runtime, noCache: true });
    const n1 = Number((await (await treeOf(first.image)).readText("count"))?.trim());
    const n2 = Number((await (await treeOf(second.image)).readText("count"))?.trim());
    expect(n2).toBe(n1 + 1);
    expect((await treeOf(second.image)).lstat("cache")).toBeUndefined();
  });

  it("never puts secrets in a layer or the history", async () => {
    const value = "s3cr3t-value-1234";
    const df = `FROM ${base}\nRUN --mount=type=secret,id=token /bin/busybox sha256sum /run/secrets/token > /sum\n`;
    const r = await buildText(df, ctx, store, { runtime, secrets: { token: value } });
    const t = await treeOf(r.image);
    const sum = createHash("sha256").update(value).digest("hex");
    expect(await t.readText("sum")).toBe(`${sum}  /run/secrets/token\n`);
    expect(t.lstat("run")).toBeUndefined();
    const history = JSON.stringify((await configOf(r.image)).history);
    expect(history).not.toContain(value.slice(0, 6));
    expect(await layerDump(r.image)).not.toContain(value);
    const missing = await buildText(
      `FROM ${base}\nRUN --mount=type=secret,id=absent,required true\n`,
      ctx,
      store,
      { runtime },
    ).catch((e: unknown) => e);
    expect(isCairnError(missing, "E_NOT_FOUND")).toBe(true);
  });

  it("binds the context, another stage, and a tmpfs", async () => {
    const df = [
      `FROM ${base} AS src`,
      "COPY data /data",
      `FROM ${base}`,
      "RUN --mount=type=bind,target=/ctx cat /ctx/a.txt > /from-context",
      "RUN --mount=type=bind,from=src,source=/data,target=/mnt cat /mnt/f > /from-stage",
      "RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && cat /scratch/t > /from-tmpfs",
    ].join("\n");
    const r = await buildText(df, ctx, store, { runtime });
    const t = await treeOf(r.image);
    expect(await t.readText("from-context")).toBe("from context\n");
    expect(await t.readText("from-stage")).toBe("stage file\n");
    expect(await t.readText("from-tmpfs")).toBe("t\n");
    for (const p of ["ctx", "mnt", "scratch"]) expect(t.lstat(p)).toBeUndefined();
  });

  it("--network=none leaves only loopback", async () => {
    const r = await buildText(
      `FROM ${base}\nRUN --network=none /bin/busybox wc -l < /proc/net/dev > /lines\n`,
      ctx,
      store,
      { runtime },
    );
    expect((await (await treeOf(r.image)).readText("lines"))?.trim()).toBe("3");
  });
});

describe("reproducible RUN layers", () => {
  it("gives the same digest on two fresh stores with SOURCE_DATE_EPOCH", async () => {
    const df = `FROM ${base}\nRUN mkdir -p /d/e && echo hi > /d/e/f && rm /etc/group && touch /d/new\nCMD ["/bin/sh"]\n`;
    const stores = [tempDir("rs1"), tempDir("rs2")];
    try {
      const a = await buildText(df, ctx, stores[0] as string, { runtime, sourceDateEpoch: EPOCH });
      const b = await buildText(df, ctx, stores[1] as string, { runtime, sourceDateEpoch: EPOCH });
      expect(b.digest).toBe(a.digest);
    } finally {
      cleanup(...stores);
    }
  });
});
