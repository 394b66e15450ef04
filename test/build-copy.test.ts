import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, symlinkSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageTree } from "../src/build/index.js";
import { isCairnError } from "../src/errors/index.js";
import { buildText, busyboxLayout, cleanup, configOf, tempDir, treeOf, writeTree } from "./build-helpers.js";
import { tarDir } from "./helpers/images.js";

let root: string;
let base: string;
let ctx: string;
let store: string;

beforeAll(() => {
  root = tempDir("copy");
  base = busyboxLayout(path.join(root, "base"), "app:x:1000:1000::/home/app:/bin/sh\n");
  ctx = writeTree(path.join(root, "ctx"), {
    "a.txt": "a\n",
    "b.txt": "b\n",
    "c.md": "c\n",
    "dir/one.txt": "1\n",
    "dir/sub/two.txt": "2\n",
    "dir/skip.log": "log\n",
    "src/x/keep/f.txt": "xf\n",
    "src/y/keep/f.txt": "yf\n",
    "tool.sh": { data: "#!/bin/sh\n", mode: 0o755 },
  });
  symlinkSync("a.txt", path.join(ctx, "link-to-a"));
  store = tempDir("copy-store");
});

afterAll(() => cleanup(root, store));

async function tree(dockerfile: string, options: Parameters<typeof buildText>[3] = {}): Promise<ImageTree> {
  const r = await buildText(dockerfile, ctx, store, options);
  return treeOf(r.image);
}

async function failure(dockerfile: string): Promise<Error> {
  const err = await buildText(dockerfile, ctx, store).catch((e: unknown) => e);
  if (!(err instanceof Error)) throw new Error("expected the build to fail");
  return err;
}

describe("COPY destinations", () => {
  it("copies a directory's contents, not the directory", async () => {
    const t = await tree("FROM scratch\nCOPY dir /d\n");
    expect(t.list("d")).toEqual(["one.txt", "skip.log", "sub"]);
    expect(t.lstat("d")).toMatchObject({ type: "directory", mode: 0o755, uid: 0, gid: 0 });
  });

  it("follows the trailing-slash rules", async () => {
    const t = await tree(
      `FROM ${base}\nCOPY a.txt /newfile\nCOPY a.txt /newdir/\nCOPY a.txt /tmp\nCOPY a.txt b.txt /multi/\n`,
    );
    expect(t.lstat("newfile")?.type).toBe("file");
    expect(t.lstat("newdir/a.txt")?.type).toBe("file");
    expect(t.lstat("tmp/a.txt")?.type).toBe("file");
    expect(t.list("multi")).toEqual(["a.txt", "b.txt"]);
  });

  it("refuses several sources into a destination that is not a directory", async () => {
    const err = await failure("FROM scratch\nCOPY a.txt b.txt /notdir\n");
    expect(isCairnError(err, "E_BUILD_FAILED")).toBe(true);
    expect(err.message).toContain("must be a directory and end with a /");
  });

  it("takes relative destinations from WORKDIR and resolves symlinks in the destination", async () => {
    const t = await tree(
      `FROM ${base}\nWORKDIR /work\nCOPY a.txt .\nCOPY b.txt rel/\nCOPY c.md /usr/sbin/\n`,
    );
    expect(t.lstat("work/a.txt")?.type).toBe("file");
    expect(t.lstat("work/rel/b.txt")?.type).toBe("file");
    expect(t.lstat("usr/sbin/c.md")?.type).toBe("file");
  });

  it("copies through symlinked destination directories of the base, keeping parents' attributes", async () => {
    const c = writeTree(tempDir("linkctx"), { "root/real/.keep": "", "a.txt": "a\n" });
    symlinkSync("real", path.join(c, "root/lnk"));
    try {
      const r = await buildText("FROM scratch\nCOPY --chmod=750 root/ /\nCOPY a.txt /lnk/\n", c, store);
      const t = await treeOf(r.image);
      expect(t.lstat("lnk")).toMatchObject({ type: "symlink", linkname: "real" });
      expect(t.lstat("real/a.txt")?.type).toBe("file");
      const last = (await r.image.layers()).at(-1);
      if (!last) throw new Error("no layer");
      const top = await treeOf({ ...r.image, layers: async () => [last] });
      expect(top.lstat("real")).toMatchObject({ type: "directory", mode: 0o750 });
      expect(top.list("")).toEqual(["real"]);
    } finally {
      cleanup(c);
    }
  });
});

describe("COPY sources", () => {
  it("matches wildcards element by element", async () => {
    const t = await tree("FROM scratch\nCOPY *.txt /t/\nCOPY src/*/keep /k/\n");
    expect(t.list("t")).toEqual(["a.txt", "b.txt"]);
    expect(t.list("k")).toEqual(["f.txt"]);
  });

  it("follows a symlink source and keeps modes", async () => {
    const t = await tree("FROM scratch\nCOPY link-to-a /l\nCOPY tool.sh /bin/\n");
    expect(t.lstat("l")).toMatchObject({ type: "file", size: 2 });
    expect(t.lstat("bin/tool.sh")).toMatchObject({ mode: 0o755 });
  });

  it("writes heredoc sources, expanding variables unless the delimiter is quoted", async () => {
    const df = [
      "FROM scratch",
      "ARG WHO=you",
      "COPY <<EOF /etc/greeting",
      "hello $WHO",
      "EOF",
      "COPY <<'EOF' <<two.sh /scripts/",
      "raw $WHO",
      "EOF",
      "echo two",
      "two.sh",
    ].join("\n");
    const r = await buildText(df, ctx, store);
    const t = await treeOf(r.image);
    expect(await t.readText("etc/greeting")).toBe("hello you\n");
    expect(await t.readText("scripts/EOF")).toBe("raw $WHO\n");
    expect(await t.readText("scripts/two.sh")).toBe("echo two\n");
    expect(t.lstat("scripts/two.sh")).toMatchObject({ mode: 0o644, uid: 0 });
    const history = (await configOf(r.image)).history?.map((h) => h.created_by);
    expect(history).toContain("COPY <<EOF /etc/greeting # buildkit");
    expect(history).toContain("COPY <<EOF <<two.sh /scripts/ # buildkit");
  });
});

describe("COPY flags", () => {
  it("--chown resolves names in the image's /etc/passwd and /etc/group", async () => {
    const t = await tree(
      `FROM ${base}\nCOPY --chown=app a.txt /o1\nCOPY --chown=app:staff a.txt /o2\nCOPY --chown=42 a.txt /o3\nCOPY --chown=nobody:0 dir /o4\n`,
    );
    expect(t.lstat("o1")).toMatchObject({ uid: 1000, gid: 1000 });
    expect(t.lstat("o2")).toMatchObject({ uid: 1000, gid: 50 });
    expect(t.lstat("o3")).toMatchObject({ uid: 42, gid: 42 });
    expect(t.lstat("o4/sub/two.txt")).toMatchObject({ uid: 65534, gid: 0 });
    expect(t.lstat("o4")).toMatchObject({ uid: 65534, gid: 0 });
  });

  it("--chown with an unknown name fails, naming it", async () => {
    const err = await failure(`FROM ${base}\nCOPY --chown=ghost a.txt /\n`);
    expect(isCairnError(err, "E_NOT_FOUND")).toBe(true);
    expect(err.message).toContain("unable to find user ghost");
  });

  it("--chmod sets octal and symbolic modes on files and directories", async () => {
    const t = await tree("FROM scratch\nCOPY --chmod=640 a.txt /m1\nCOPY --chmod=u+x,go-r dir /m2\n");
    expect(t.lstat("m1")?.mode).toBe(0o640);
    expect(t.lstat("m2/one.txt")?.mode).toBe(0o700);
    expect(t.lstat("m2/sub")?.mode).toBe(0o711);
  });

  it("--link makes a layer independent of the base: new parents are root 0755", async () => {
    const r = await buildText(`FROM ${base}\nCOPY --link a.txt /tmp/linked/\n`, ctx, store);
    const layers = await r.image.layers();
    const last = layers.at(-1);
    if (!last) throw new Error("no layer");
    const t = await treeOf({ ...r.image, layers: async () => [last] });
    expect(t.lstat("tmp")).toMatchObject({ type: "directory", mode: 0o755, uid: 0 });
    expect(t.lstat("tmp/linked/a.txt")?.type).toBe("file");
    const owned = await tree(`FROM ${base}\nCOPY --link --chown=app a.txt /linked-owned\n`);
    expect(owned.lstat("linked-owned")).toMatchObject({ uid: 1000, gid: 1000 });
  });

  it("--parents keeps source paths, from the /./ pivot when there is one", async () => {
    const t = await tree(
      "FROM scratch\nCOPY --parents dir/sub/two.txt src/*/keep /p/\nCOPY --parents ./src/./x/keep /q/\n",
    );
    expect(t.lstat("p/dir/sub/two.txt")?.type).toBe("file");
    expect(t.lstat("p/src/x/keep/f.txt")?.type).toBe("file");
    expect(t.lstat("p/src/y/keep/f.txt")?.type).toBe("file");
    expect(t.lstat("q/x/keep/f.txt")?.type).toBe("file");
    expect(t.lstat("q/src")).toBeUndefined();
  });

  it("--exclude leaves matching paths out", async () => {
    const t = await tree(
      "FROM scratch\nCOPY --exclude=*.log --exclude=sub dir /e/\nCOPY --exclude=*.md *.* /f/\n",
    );
    expect(t.list("e")).toEqual(["one.txt"]);
    expect(t.list("f")).toEqual(["a.txt", "b.txt", "tool.sh"]);
  });

  it("--from copies from a stage, keeping owners, modes and symlinks inside directories", async () => {
    const df = [
      `FROM ${base} AS src`,
      "COPY --chown=app:app --chmod=700 dir /data",
      "FROM scratch",
      "COPY --from=src /data /copied",
      "COPY --from=src /bin/sh /sh-followed",
      "COPY --from=src /bin /bin-dir",
    ].join("\n");
    const t = await tree(df);
    expect(t.lstat("copied/one.txt")).toMatchObject({ uid: 1000, gid: 1000, mode: 0o700 });
    expect(await t.readText("copied/sub/two.txt")).toBe("2\n");
    expect(t.lstat("sh-followed")).toMatchObject({ type: "file", mode: 0o755 });
    expect(t.lstat("bin-dir/sh")).toMatchObject({ type: "symlink", linkname: "busybox" });
  });

  it("--from an image location reads straight from its layers", async () => {
    const t = await tree(`FROM scratch\nCOPY --from=${base} /etc/passwd /etc/group /from-image/\n`);
    expect(await t.readText("from-image/passwd")).toContain("app:x:1000:1000");
  });
});

describe("ADD", () => {
  let archives: string;
  let server: http.Server;
  let url: string;
  const payload = Buffer.from("downloaded payload\n");

  beforeAll(async () => {
    archives = writeTree(tempDir("archive-src"), {
      "pkg/bin/tool": { data: "#!/bin/sh\necho tool\n", mode: 0o755 },
      "pkg/README": "pkg readme\n",
    });
    tarDir(path.join(archives, "pkg"), path.join(ctx, "pkg.tar.gz"), true);
    tarDir(path.join(archives, "pkg"), path.join(ctx, "pkg.tar"), false);
    execFileSync("sh", [
      "-c",
      `tar -C ${path.join(archives, "pkg")} -cf - . | bzip2 > ${path.join(ctx, "pkg.tar.bz2")}`,
    ]);
    server = http.createServer((req, res) => {
      if (req.url === "/files/payload.bin") {
        res.writeHead(200, { "Last-Modified": new Date(1_600_000_000_000).toUTCString() });
        res.end(payload);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    cleanup(archives);
  });

  it("unpacks local tar archives (plain, gzip, bzip2) and copies other files as they are", async () => {
    const t = await tree(
      "FROM scratch\nADD pkg.tar.gz /opt/gz\nADD pkg.tar /opt/plain/\nADD pkg.tar.bz2 /opt/bz\nADD a.txt /opt/\n",
    );
    for (const d of ["opt/gz", "opt/plain", "opt/bz"]) {
      expect(t.lstat(`${d}/bin/tool`)).toMatchObject({ type: "file", mode: 0o755 });
      expect(await t.readText(`${d}/README`)).toBe("pkg readme\n");
    }
    expect(t.lstat("opt/a.txt")?.type).toBe("file");
  });

  it("downloads a URL, checks --checksum, names the file after the URL, mode 0600", async () => {
    const sum = `sha256:${createHash("sha256").update(payload).digest("hex")}`;
    const r = await buildText(
      `FROM scratch\nADD --checksum=${sum} ${url}/files/payload.bin /dl/\nADD ${url}/files/payload.bin /named\n`,
      ctx,
      store,
    );
    const t = await treeOf(r.image);
    expect(t.lstat("dl/payload.bin")).toMatchObject({ type: "file", mode: 0o600, mtime: 1_600_000_000 });
    expect(await t.readText("named")).toBe(payload.toString());
    expect((await configOf(r.image)).history?.[0]?.created_by).toBe(
      `ADD ${url}/files/payload.bin /dl/ # buildkit`,
    );
  });

  it("fails on a wrong checksum and on a missing URL", async () => {
    const wrong = await failure(
      `FROM scratch\nADD --checksum=sha256:${"0".repeat(64)} ${url}/files/payload.bin /x\n`,
    );
    expect(isCairnError(wrong, "E_DIGEST_MISMATCH")).toBe(true);
    expect(wrong.message).toContain("Dockerfile line 2");
    const missing = await failure(`FROM scratch\nADD ${url}/nope /x\n`);
    expect(isCairnError(missing, "E_NOT_FOUND")).toBe(true);
  });

  it("a changed download invalidates the step even though the URL is the same", async () => {
    const before = await buildText(`FROM scratch\nADD ${url}/files/payload.bin /p\n`, ctx, store);
    const again = await buildText(`FROM scratch\nADD ${url}/files/payload.bin /p\n`, ctx, store);
    expect(again.steps[0]?.cached).toBe(true);
    expect(again.digest).toBe(before.digest);
    expect(readFileSync(path.join(ctx, "a.txt"), "utf8")).toBe("a\n");
  });
});

describe("hardlinks", () => {
  it("stay linked through COPY from the context and from a stage, and ADD of an archive", async () => {
    const linkCtx = writeTree(tempDir("links"), { "pkg/one": "one file\n", other: "other\n" });
    execFileSync("ln", [path.join(linkCtx, "pkg/one"), path.join(linkCtx, "pkg/two")]);
    tarDir(path.join(linkCtx, "pkg"), path.join(linkCtx, "pkg.tar"), false);
    try {
      const r = await buildText(
        [
          "FROM scratch AS files",
          "COPY pkg /pkg/",
          "FROM scratch",
          "COPY pkg /ctx/",
          "COPY pkg/one pkg/two /separate/",
          "COPY --from=files /pkg /stage/",
          "ADD pkg.tar /archive/",
        ].join("\n"),
        linkCtx,
        store,
      );
      const t = await treeOf(r.image);
      for (const d of ["ctx", "stage", "archive"]) {
        const one = t.lstat(`${d}/one`);
        expect(one?.linkKey, d).toBeDefined();
        expect(t.lstat(`${d}/two`)?.linkKey, d).toBe(one?.linkKey);
        expect(await t.readText(`${d}/two`)).toBe("one file\n");
      }
      // Two source arguments are two copies (BuildKit copies them one after the other).
      expect(t.lstat("separate/two")?.linkKey).toBeUndefined();
    } finally {
      cleanup(linkCtx);
    }
  });
});
