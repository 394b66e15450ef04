/**
 * User resolution against a rootfs's /etc/passwd and /etc/group (runc's and Docker's rules),
 * and reading those files safely: a hostile rootfs must not make cairn read or create anything
 * outside it.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { parseGroup, parsePasswd, resolveUser } from "../src/runtime/index.js";
import {
  ensureDirInRoot,
  ensureFileInRoot,
  findExecutableInRoot,
  readFileInRoot,
  resolveInRoot,
} from "../src/runtime/rootfs-path.js";
import { tempDir } from "./runtime-fixtures.js";

const PASSWD = [
  "# a comment",
  "root:x:0:0:root:/root:/bin/sh",
  "",
  "app:x:1000:1000:App:/home/app:/bin/sh",
  "app:x:2000:2000:shadowed duplicate:/nope:/bin/sh",
  "svc:x:1001:1001::/srv:/bin/false\r",
  "+nis::::::",
  "broken:x:notanumber:1:::",
  "huge:x:99999999999:1:::",
  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
].join("\n");

const GROUP = [
  "root:x:0:",
  "audio:x:29:root,app",
  "staff:x:50: app , other",
  "app:x:1000:",
  "wheel:x:10:app",
  "wheel-again:x:10:app",
  "nogroup:x:65534:",
  "bad:x:-3:app",
].join("\n");

let work: string;

function rootfsWith(name: string, files: Record<string, string> = { passwd: PASSWD, group: GROUP }): string {
  const root = path.join(work, name);
  fs.mkdirSync(path.join(root, "etc"), { recursive: true });
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(root, "etc", f), text);
  return root;
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (e) {
    return isCairnError(e) ? e.code : `not a CairnError: ${String(e)}`;
  }
};

beforeAll(() => {
  work = tempDir("cairn-rt-users-");
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe("parsing /etc/passwd and /etc/group", () => {
  it("keeps well-formed entries and skips comments, NIS lines and broken ids", () => {
    expect(parsePasswd(PASSWD).map((u) => `${u.name}:${u.uid}:${u.gid}:${u.home}:${u.shell}`)).toEqual([
      "root:0:0:/root:/bin/sh",
      "app:1000:1000:/home/app:/bin/sh",
      "app:2000:2000:/nope:/bin/sh",
      "svc:1001:1001:/srv:/bin/false",
      "nobody:65534:65534:/nonexistent:/usr/sbin/nologin",
    ]);
    expect(parseGroup(GROUP).map((g) => `${g.name}:${g.gid}:${g.members.join("+")}`)).toEqual([
      "root:0:",
      "audio:29:root+app",
      "staff:50:app+other",
      "app:1000:",
      "wheel:10:app",
      "wheel-again:10:app",
      "nogroup:65534:",
    ]);
  });

  it("never throws and only yields ids in range, whatever the text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        for (const u of parsePasswd(text)) {
          expect(u.uid).toBeGreaterThanOrEqual(0);
          expect(u.uid).toBeLessThanOrEqual(2 ** 31 - 1);
          expect(u.name).not.toBe("");
        }
        for (const g of parseGroup(text)) expect(Number.isInteger(g.gid)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe("resolveUser", () => {
  let root: string;
  beforeAll(() => {
    root = rootfsWith("plain");
  });

  it("defaults to root, with root's home and groups", () => {
    const want = { uid: 0, gid: 0, additionalGids: [29], home: "/root", name: "root" };
    expect(resolveUser(root, undefined)).toEqual(want);
    expect(resolveUser(root, "")).toEqual(want);
    expect(resolveUser(root, "root")).toEqual(want);
  });

  it("resolves a name to its ids, home and supplementary groups (first passwd match wins)", () => {
    expect(resolveUser(root, "app")).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [29, 50, 10],
      home: "/home/app",
      name: "app",
    });
    expect(resolveUser(root, "svc")).toMatchObject({
      uid: 1001,
      gid: 1001,
      additionalGids: [],
      home: "/srv",
    });
  });

  it("treats a numeric user as a uid, matched in /etc/passwd when it is there", () => {
    expect(resolveUser(root, "1000")).toMatchObject({ uid: 1000, gid: 1000, additionalGids: [29, 50, 10] });
    expect(resolveUser(root, "4242")).toEqual({ uid: 4242, gid: 0, additionalGids: [], home: "/" });
  });

  it("takes an explicit group by name or number, and then no supplementary groups", () => {
    expect(resolveUser(root, "app:staff")).toMatchObject({ uid: 1000, gid: 50, additionalGids: [] });
    expect(resolveUser(root, "app:50")).toMatchObject({ uid: 1000, gid: 50, additionalGids: [] });
    expect(resolveUser(root, "app:777")).toMatchObject({ uid: 1000, gid: 777, additionalGids: [] });
    expect(resolveUser(root, "1234:5678")).toEqual({ uid: 1234, gid: 5678, additionalGids: [], home: "/" });
    expect(resolveUser(root, ":audio")).toMatchObject({ uid: 0, gid: 29, additionalGids: [] });
    expect(resolveUser(root, "0:0")).toMatchObject({ uid: 0, gid: 0, additionalGids: [] });
    expect(resolveUser(root, "app:")).toMatchObject({ uid: 1000, gid: 1000, additionalGids: [29, 50, 10] });
  });

  it("refuses unknown names, ids out of range and malformed specs", () => {
    expect(code(() => resolveUser(root, "ghost"))).toBe("E_NOT_FOUND");
    expect(code(() => resolveUser(root, "app:ghosts"))).toBe("E_NOT_FOUND");
    expect(code(() => resolveUser(root, "4294967296"))).toBe("E_USAGE");
    expect(code(() => resolveUser(root, "1:2147483648"))).toBe("E_USAGE");
    expect(code(() => resolveUser(root, "app\nroot"))).toBe("E_USAGE");
    expect(code(() => resolveUser(root, "a".repeat(300)))).toBe("E_USAGE");
  });

  it("works without /etc/passwd or /etc/group for numeric ids only", () => {
    const bare = rootfsWith("bare", {});
    expect(resolveUser(bare, undefined)).toEqual({ uid: 0, gid: 0, additionalGids: [], home: "/" });
    expect(resolveUser(bare, "5:6")).toMatchObject({ uid: 5, gid: 6 });
    expect(() => resolveUser(bare, "app")).toThrow(/does not exist/);
    const noGroup = rootfsWith("nogroup", { passwd: PASSWD });
    expect(resolveUser(noGroup, "app")).toMatchObject({ uid: 1000, additionalGids: [] });
    expect(code(() => resolveUser(noGroup, "app:staff"))).toBe("E_NOT_FOUND");
  });

  it("only ever throws CairnErrors, for any user string", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (spec) => {
        const c = code(() => resolveUser(root, spec));
        expect(c === undefined || c.startsWith("E_")).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe("a hostile rootfs", () => {
  let hostDir: string;
  beforeAll(() => {
    hostDir = tempDir("cairn-rt-host-");
    fs.writeFileSync(path.join(hostDir, "passwd"), "evil:x:7:7:host file:/:/bin/sh\n");
    fs.writeFileSync(path.join(hostDir, "group"), "evilgroup:x:7:evil\n");
  });
  afterAll(() => {
    fs.rmSync(hostDir, { recursive: true, force: true });
  });

  it("does not follow an absolute /etc/passwd symlink out of the rootfs", () => {
    const root = rootfsWith("abs-link", {});
    fs.symlinkSync(path.join(hostDir, "passwd"), path.join(root, "etc/passwd"));
    fs.symlinkSync(path.join(hostDir, "group"), path.join(root, "etc/group"));
    expect(code(() => resolveUser(root, "evil"))).toBe("E_NOT_FOUND");
    expect(code(() => resolveUser(root, "0:evilgroup"))).toBe("E_NOT_FOUND");
    // The same link, read as the container would: inside the rootfs.
    fs.mkdirSync(path.join(root, hostDir), { recursive: true });
    fs.writeFileSync(path.join(root, hostDir, "passwd"), "inside:x:8:8::/:/bin/sh\n");
    expect(resolveUser(root, "inside")).toMatchObject({ uid: 8, gid: 8 });
    expect(code(() => resolveUser(root, "evil"))).toBe("E_NOT_FOUND");
  });

  it("does not climb out with a relative ../ symlink", () => {
    const root = rootfsWith("rel-link", {});
    const rel = path.relative(path.join(root, "etc"), path.join(hostDir, "passwd"));
    fs.symlinkSync(rel, path.join(root, "etc/passwd"));
    expect(rel.startsWith("../")).toBe(true);
    expect(code(() => resolveUser(root, "evil"))).toBe("E_NOT_FOUND");
  });

  it("does not follow a symlinked /etc out of the rootfs", () => {
    const root = path.join(work, "etc-link");
    fs.mkdirSync(root);
    fs.symlinkSync(hostDir, path.join(root, "etc"));
    expect(code(() => resolveUser(root, "evil"))).toBe("E_NOT_FOUND");
  });

  it("follows symlinks that stay inside the rootfs", () => {
    const root = rootfsWith("inner-link", {});
    fs.mkdirSync(path.join(root, "data"));
    fs.writeFileSync(path.join(root, "data/pw"), "linked:x:9:9::/:/bin/sh\n");
    fs.symlinkSync("/data/pw", path.join(root, "etc/passwd"));
    expect(resolveUser(root, "linked")).toMatchObject({ uid: 9 });
  });

  it("refuses FIFOs, directories, loops and oversized files instead of hanging or reading them", () => {
    const fifo = rootfsWith("fifo", {});
    execFileSync("mkfifo", [path.join(fifo, "etc/passwd")]);
    expect(code(() => resolveUser(fifo, "app"))).toBe("E_LAYER_UNSAFE_PATH");
    const dir = rootfsWith("dir", {});
    fs.mkdirSync(path.join(dir, "etc/passwd"));
    expect(code(() => resolveUser(dir, "app"))).toBe("E_LAYER_UNSAFE_PATH");
    const loop = rootfsWith("loop", {});
    fs.symlinkSync("/etc/b", path.join(loop, "etc/passwd"));
    fs.symlinkSync("/etc/passwd", path.join(loop, "etc/b"));
    expect(code(() => resolveUser(loop, "app"))).toBe("E_LAYER_UNSAFE_PATH");
    const big = rootfsWith("big", {});
    fs.writeFileSync(path.join(big, "etc/passwd"), "");
    fs.truncateSync(path.join(big, "etc/passwd"), 9 << 20);
    expect(code(() => resolveUser(big, "app"))).toBe("E_SIZE_LIMIT");
  });
});

describe("paths inside a rootfs", () => {
  it("clamps .. at the root and restarts absolute link targets at the root", () => {
    const root = rootfsWith("paths", {});
    fs.symlinkSync("/etc", path.join(root, "abs"));
    fs.symlinkSync("../../..", path.join(root, "etc/up"));
    const real = fs.realpathSync(root);
    expect(resolveInRoot(root, "/../../etc", true).host).toBe(path.join(real, "etc"));
    expect(resolveInRoot(root, "/abs/x", true)).toMatchObject({ found: ["etc"], missing: ["x"] });
    expect(resolveInRoot(root, "/etc/up/etc", true).found).toEqual(["etc"]);
    expect(resolveInRoot(root, "/abs", false).stat?.isSymbolicLink()).toBe(true);
  });

  it("creates directories and files through links, always inside", () => {
    const root = rootfsWith("create", {});
    const outside = tempDir("cairn-rt-outside-");
    fs.symlinkSync(outside, path.join(root, "out"));
    const made = ensureDirInRoot(root, "/out/a/b");
    expect(made).toBe(path.join(fs.realpathSync(root), outside, "a/b"));
    expect(fs.readdirSync(outside)).toEqual([]);
    const file = ensureFileInRoot(root, "/out/f/secret");
    expect(fs.statSync(file).isFile()).toBe(true);
    expect(fs.readdirSync(outside)).toEqual([]);
    fs.writeFileSync(path.join(root, "plain"), "x");
    expect(code(() => ensureDirInRoot(root, "/plain/sub"))).toBe("E_LAYER_UNSAFE_PATH");
    expect(code(() => ensureFileInRoot(root, "/etc"))).toBe("E_LAYER_UNSAFE_PATH");
    expect(readFileInRoot(root, "/nope", 10)).toBeUndefined();
    fs.rmSync(outside, { recursive: true, force: true });
  });

  it("finds executables the way execvp would, inside the rootfs", () => {
    const root = rootfsWith("exe", {});
    fs.mkdirSync(path.join(root, "bin"));
    fs.writeFileSync(path.join(root, "bin/tool"), "#!/bin/sh\n", { mode: 0o755 });
    fs.writeFileSync(path.join(root, "bin/data"), "", { mode: 0o644 });
    fs.symlinkSync("tool", path.join(root, "bin/alias"));
    expect(findExecutableInRoot(root, "tool", "/usr/bin:/bin", "/")).toBe("/bin/tool");
    expect(findExecutableInRoot(root, "alias", "/bin", "/")).toBe("/bin/alias");
    expect(findExecutableInRoot(root, "data", "/bin", "/")).toBeUndefined();
    expect(findExecutableInRoot(root, "./tool", "", "/bin")).toBe("/bin/tool");
    expect(findExecutableInRoot(root, "/bin/tool", "", "/")).toBe("/bin/tool");
    expect(findExecutableInRoot(root, "sh", "/bin", "/")).toBeUndefined();
  });
});
