/**
 * The same cases on every adapter (runc, crun, bwrap, chroot), against a busybox rootfs: they
 * must all give the same observable result. An adapter that cannot run here fails its tests
 * with its reason.
 */
import fs from "node:fs";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { DEFAULT_PATH, getRuntime, RUNTIME_NAMES, type RunSpec } from "../src/runtime/index.js";
import { hostProcesses, makeTestRootfs, requireAvailable, tempDir } from "./runtime-fixtures.js";

const work = tempDir("cairn-rt-matrix-");

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function hostInterfaces(): string[] {
  return fs
    .readFileSync("/proc/net/dev", "utf8")
    .split("\n")
    .slice(2)
    .filter((l) => l.includes(":"))
    .map((l) => l.split(":")[0]?.trim() ?? "")
    .sort();
}

describe.each(RUNTIME_NAMES)("runtime %s", (name) => {
  const rt = getRuntime(name);
  let rootfs: string;
  const run = async (spec: Omit<RunSpec, "rootfs">, io = {}) => {
    await requireAvailable(rt);
    return rt.run({ rootfs, ...spec }, io);
  };
  const sh = (script: string, extra: Omit<RunSpec, "rootfs" | "args"> = {}) =>
    run({ args: ["sh", "-c", script], ...extra });

  beforeAll(() => {
    rootfs = makeTestRootfs(path.join(work, name));
  });

  it("is available here (as root, every adapter must be)", async () => {
    const a = await rt.available();
    expect(a, a.reason).toMatchObject({ ok: true });
  });

  it("reports exit codes", async () => {
    expect((await sh("exit 0")).exitCode).toBe(0);
    const r = await sh("exit 3");
    expect(r).toMatchObject({ exitCode: 3, signal: null, timedOut: false });
    expect((await run({ args: ["false"] })).exitCode).toBe(1);
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("keeps stdout and stderr apart, captured by default", async () => {
    const r = await sh("echo out; echo err >&2; echo more");
    expect(r.stdout?.toString()).toBe("out\nmore\n");
    expect(r.stderr?.toString()).toBe("err\n");
  });

  it("writes output into given streams (left open) or drops it", async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on("data", (d: Buffer) => chunks.push(d));
    const r = await run({ args: ["echo", "to a stream"] }, { stdout: out, stderr: "ignore" });
    expect(Buffer.concat(chunks).toString()).toBe("to a stream\n");
    expect(r.stdout).toBeUndefined();
    expect(r.stderr).toBeUndefined();
    expect(out.writableEnded).toBe(false);
  });

  it("passes exactly the environment asked for, plus PATH and HOME defaults", async () => {
    const r = await run({ args: ["env"], env: ["A=1", "B=x y=z", "A=2"] });
    // bwrap always adds PWD (documented); the rest must be identical everywhere.
    const lines = (r.stdout?.toString() ?? "").split("\n").filter((l) => l !== "" && !l.startsWith("PWD="));
    expect(lines).toEqual(["A=2", "B=x y=z", `PATH=${DEFAULT_PATH}`, "HOME=/root"]);
    const own = await run({ args: ["env"], env: { PATH: "/bin", HOME: "/x" }, user: "app" });
    expect(own.stdout?.toString()).toContain("PATH=/bin\nHOME=/x\n");
    const home = await run({ args: ["sh", "-c", 'echo "$HOME"'], user: "app" });
    expect(home.stdout?.toString()).toBe("/home/app\n");
  });

  it("runs in the working directory, creating it when missing", async () => {
    expect((await run({ args: ["pwd"], cwd: "/tmp" })).stdout?.toString()).toBe("/tmp\n");
    expect((await run({ args: ["pwd"] })).stdout?.toString()).toBe("/\n");
    const r = await run({ args: ["pwd"], cwd: "/work/deep/dir" });
    expect(r.stdout?.toString()).toBe("/work/deep/dir\n");
    expect(fs.statSync(path.join(rootfs, "work/deep/dir")).isDirectory()).toBe(true);
  });

  it("resolves users, groups and supplementary groups from /etc/passwd and /etc/group", async () => {
    const ids = async (user: RunSpec["user"]) =>
      (
        await run({ args: ["sh", "-c", "id -u; id -g; id -G"], ...(user !== undefined ? { user } : {}) })
      ).stdout
        ?.toString()
        .trim()
        .split("\n");
    expect(await ids(undefined)).toEqual(["0", "0", "0 29"]);
    expect(await ids("app")).toEqual(["1000", "1000", "1000 29 50"]);
    expect(await ids("1000")).toEqual(["1000", "1000", "1000 29 50"]);
    expect(await ids("app:staff")).toEqual(["1000", "50", "50"]);
    expect(await ids("nobody")).toEqual(["65534", "65534", "65534"]);
    expect(await ids("1234:5678")).toEqual(["1234", "5678", "5678"]);
    expect(await ids("nobody:audio")).toEqual(["65534", "29", "29"]);
    expect(await ids({ uid: 42, gid: 43, additionalGids: [7, 8] })).toEqual(["42", "43", "43 7 8"]);
    const named = await run({ args: ["id"], user: "app" });
    expect(named.stdout?.toString()).toBe("uid=1000(app) gid=1000(app) groups=29(audio),50(staff)\n");
  });

  it("refuses unknown users and missing executables before starting", async () => {
    await requireAvailable(rt);
    await expect(run({ args: ["id"], user: "ghost" })).rejects.toSatisfy((e) =>
      isCairnError(e, "E_NOT_FOUND"),
    );
    await expect(run({ args: ["id"], user: "app:ghosts" })).rejects.toSatisfy((e) =>
      isCairnError(e, "E_NOT_FOUND"),
    );
    await expect(run({ args: ["no-such-tool"] })).rejects.toSatisfy((e) => isCairnError(e, "E_NOT_FOUND"));
    await expect(run({ args: ["/etc/passwd"] })).rejects.toSatisfy((e) => isCairnError(e, "E_NOT_FOUND"));
  });

  it("gives root Docker's default capabilities and other users none", async () => {
    const caps = async (user?: string) =>
      (
        await run({ args: ["grep", "-E", "^Cap(Eff|Bnd)", "/proc/self/status"], ...(user ? { user } : {}) })
      ).stdout
        ?.toString()
        .replace(/\s+/g, " ")
        .trim();
    const root = await caps();
    expect(root).toMatch(/^CapEff: 00000000a80425fb CapBnd: /);
    // bwrap, run by root without a user namespace, leaves the bounding set alone (documented;
    // no_new_privs keeps anything outside CapEff from being regained).
    if (name !== "bwrap") expect(root).toMatch(/CapBnd: 00000000a80425fb$/);
    expect(await caps("app")).toMatch(/^CapEff: 0000000000000000 /);
  });

  it("pipes stdin from bytes or a stream", async () => {
    const a = await run({ args: ["cat"] }, { stdin: Buffer.from("hello\nworld\n") });
    expect(a.stdout?.toString()).toBe("hello\nworld\n");
    const b = await run({ args: ["wc", "-l"] }, { stdin: Readable.from(["one\n", "two\n", "three\n"]) });
    expect(b.stdout?.toString().trim()).toBe("3");
    const c = await run({ args: ["cat"] });
    expect(c.stdout?.toString()).toBe("");
  });

  it("runs the command as pid 1 of its own pid namespace", async () => {
    const r = await sh('echo "$$"; ls -d /proc/[0-9]* | wc -l');
    const [pid, count] = (r.stdout?.toString() ?? "").trim().split("\n");
    expect(pid).toBe("1");
    expect(Number(count)).toBeLessThanOrEqual(4);
  });

  it("reports death by signal; pid 1 ignores signals it sends itself (no init, like docker run)", async () => {
    const child = await sh("sh -c 'kill -TERM $$; echo not reached'; exit $?");
    expect(child).toMatchObject({ exitCode: null, signal: "SIGTERM" });
    expect(child.stdout?.toString()).toBe("");
    const self = await sh("kill -TERM $$; echo survived");
    expect(self).toMatchObject({ exitCode: 0, signal: null });
    expect(self.stdout?.toString()).toBe("survived\n");
  });

  it("kills the whole container when the time limit runs out", async () => {
    const tag = `${4000 + RUNTIME_NAMES.indexOf(name)}`;
    const r = await sh(`sleep ${tag} & sleep ${tag} & echo started; wait`, { timeoutMs: 1500 });
    expect(r).toMatchObject({ exitCode: null, signal: "SIGKILL", timedOut: true });
    expect(r.stdout?.toString()).toBe("started\n");
    expect(r.durationMs).toBeLessThan(15_000);
    expect(hostProcesses(["sleep", tag])).toEqual([]);
  });

  it("kills the container and rejects with E_ABORTED when the signal aborts", async () => {
    await requireAvailable(rt);
    const tag = `${5000 + RUNTIME_NAMES.indexOf(name)}`;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 1000);
    await expect(sh(`sleep ${tag} & sleep ${tag}`, { signal: ac.signal })).rejects.toSatisfy((e) =>
      isCairnError(e, "E_ABORTED"),
    );
    expect(hostProcesses(["sleep", tag])).toEqual([]);
    await expect(sh("true", { signal: AbortSignal.abort() })).rejects.toSatisfy((e) =>
      isCairnError(e, "E_ABORTED"),
    );
  });

  it("leaves nothing behind when aborted right after it started", async () => {
    await requireAvailable(rt);
    const tag = `${6000 + RUNTIME_NAMES.indexOf(name)}`;
    for (const delay of [0, 20, 80]) {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), delay);
      await expect(sh(`sleep ${tag}`, { signal: ac.signal, user: "app" })).rejects.toSatisfy((e) =>
        isCairnError(e, "E_ABORTED"),
      );
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(hostProcesses(["sleep", tag])).toEqual([]);
    expect(hostProcesses(["--as-pid-1"]).length + hostProcesses(["cairn-chroot"]).length).toBe(0);
  });

  it("writes into the rootfs, visible on the host afterwards with the container user's ids", async () => {
    const r = await sh(`echo from-${name} > /tmp/out-${name}; mkdir -p /tmp/d-${name}`, { user: "app" });
    expect(r.exitCode).toBe(0);
    const file = path.join(rootfs, "tmp", `out-${name}`);
    expect(fs.readFileSync(file, "utf8")).toBe(`from-${name}\n`);
    const st = fs.statSync(file);
    expect([st.uid, st.gid]).toEqual([1000, 1000]);
    expect(fs.statSync(path.join(rootfs, "tmp", `d-${name}`)).isDirectory()).toBe(true);
  });

  it("has only loopback, up, in a network namespace of its own with network none (the default)", async () => {
    const r = await sh(
      "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; ip -o addr show lo | grep -c 127.0.0.1; readlink /proc/self/ns/net",
    );
    const [iface, lo, ns] = (r.stdout?.toString() ?? "").trim().split("\n");
    expect([iface, lo]).toEqual(["lo", "1"]);
    expect(ns).not.toBe(fs.readlinkSync("/proc/self/ns/net"));
  });

  it("shares the host's network namespace with network host", async () => {
    const r = await sh("readlink /proc/self/ns/net; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '", {
      network: "host",
    });
    const [ns, ...names] = (r.stdout?.toString() ?? "").trim().split("\n");
    expect(ns).toBe(fs.readlinkSync("/proc/self/ns/net"));
    expect(names.sort()).toEqual(hostInterfaces());
  });

  it("sets the hostname (default cairn)", async () => {
    expect((await run({ args: ["hostname"] })).stdout?.toString()).toBe("cairn\n");
    expect((await run({ args: ["hostname"], hostname: "box-1.test" })).stdout?.toString()).toBe(
      "box-1.test\n",
    );
  });

  it("gives a fresh /proc, a /dev with the usual nodes, and /dev/null writable", async () => {
    const r = await sh("ls /dev; echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c");
    const out = r.stdout?.toString() ?? "";
    for (const n of ["null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "fd", "stdin"])
      expect(out.split("\n"), n).toContain(n);
    expect(out).toContain("null-ok\n4\n");
  });

  it("mounts binds (rw, ro, a file) and tmpfs, without changing the rootfs under them", async () => {
    const host = tempDir(`cairn-rt-bind-${name}-`);
    fs.chmodSync(host, 0o777);
    const secret = path.join(host, "secret.txt");
    fs.writeFileSync(secret, "s3cret\n");
    const r = await sh(
      "echo rw > /data/f && echo yes; (echo ro > /ro/f) 2>/dev/null || echo ro-refused; cat /run/secret; " +
        "echo t > /scratch/t && stat -c %a /scratch",
      {
        mounts: [
          { type: "bind", source: host, target: "/data" },
          { type: "bind", source: host, target: "/ro", readonly: true },
          { type: "bind", source: secret, target: "/run/secret", readonly: true },
          { type: "tmpfs", target: "/scratch", mode: 0o1777, sizeBytes: 1 << 20 },
        ],
      },
    );
    expect(r.stdout?.toString()).toBe("yes\nro-refused\ns3cret\n1777\n");
    expect(fs.readFileSync(path.join(host, "f"), "utf8")).toBe("rw\n");
    expect(fs.readdirSync(path.join(rootfs, "scratch"))).toEqual([]);
    expect(fs.readdirSync(path.join(rootfs, "data"))).toEqual([]);
    fs.rmSync(host, { recursive: true, force: true });
  });

  it("never creates mount points outside the rootfs through its symlinks", async () => {
    const outside = tempDir(`cairn-rt-outside-${name}-`);
    const link = path.join(rootfs, `escape-${name}`);
    fs.symlinkSync(outside, link);
    fs.symlinkSync("../../../../../../..", path.join(rootfs, `up-${name}`));
    const r = await sh("echo in > /m/f; cat /m/f", {
      mounts: [
        { type: "tmpfs", target: `/escape-${name}/m` },
        { type: "tmpfs", target: `/up-${name}/m2` },
        { type: "tmpfs", target: "/m" },
      ],
    });
    expect(r.stdout?.toString()).toBe("in\n");
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.existsSync(path.join(rootfs, outside, "m"))).toBe(true);
    expect(fs.existsSync(path.join(rootfs, "m2"))).toBe(true);
    fs.rmSync(outside, { recursive: true, force: true });
  });

  it("runs two containers at once, each with its own namespaces", async () => {
    const [a, b] = await Promise.all([
      sh("sleep 0.3; hostname", { hostname: "one" }),
      sh("sleep 0.3; hostname", { hostname: "two" }),
    ]);
    expect(a?.stdout?.toString()).toBe("one\n");
    expect(b?.stdout?.toString()).toBe("two\n");
  });
});
