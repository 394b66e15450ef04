/**
 * OCI runtime-spec generation and the image spec's conversion rules (conversion.md), checked on
 * the image spec's own example config and on edge cases; plus what every adapter shares:
 * environment merging, exit-status decoding and the checks of a run spec.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import type { ImageConfig } from "../src/manifest/index.js";
import {
  buildOciSpec,
  DEFAULT_CAPABILITIES,
  DEFAULT_PATH,
  decodeExit,
  defaultMounts,
  imageAnnotations,
  imageConfigToOciSpec,
  imageProcess,
  MASKED_PATHS,
  normalizeEnv,
  prepareRun,
  READONLY_PATHS,
  shellExitStatus,
} from "../src/runtime/index.js";
import { conformanceDir } from "./helpers/conformance.js";
import { makeTestRootfs, tempDir } from "./runtime-fixtures.js";

let work: string;
let rootfs: string;
let example: ImageConfig;

const base = (config: ImageConfig["config"], extra: Partial<ImageConfig> = {}): ImageConfig => ({
  architecture: "amd64",
  os: "linux",
  rootfs: { type: "layers", diff_ids: [] },
  ...(config !== undefined ? { config } : {}),
  ...extra,
});

beforeAll(() => {
  work = tempDir("cairn-rt-spec-");
  rootfs = makeTestRootfs(path.join(work, "rootfs"));
  fs.appendFileSync(path.join(rootfs, "etc/passwd"), "alice:x:1500:1600:Alice:/home/alice:/bin/sh\n");
  fs.appendFileSync(path.join(rootfs, "etc/group"), "alice:x:1600:\ndevs:x:1700:alice\n");
  const file = path.join(conformanceDir("image-spec"), "spec-examples/valid-config-1.json");
  example = JSON.parse(fs.readFileSync(file, "utf8")) as ImageConfig;
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe("conversion of the image spec's example config", () => {
  it("builds process.args from Entrypoint + Cmd, env verbatim, cwd from WorkingDir, user from /etc/passwd", () => {
    const spec = imageConfigToOciSpec(example, { rootfs });
    expect(spec.process.args).toEqual([
      "/bin/my-app-binary",
      "--foreground",
      "--config",
      "/etc/my-app.d/default.cfg",
    ]);
    expect(spec.process.env).toEqual([
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "FOO=oci_is_a",
      "BAR=well_written_spec",
      "HOME=/home/alice",
    ]);
    expect(spec.process.cwd).toBe("/home/alice");
    expect(spec.process.user).toEqual({ uid: 1500, gid: 1600, additionalGids: [1700] });
    expect(spec.process.terminal).toBe(false);
    expect(spec.root).toEqual({ path: rootfs, readonly: false });
  });

  it("sets the conversion annotations, with Labels included", () => {
    const spec = imageConfigToOciSpec(example, { rootfs });
    expect(spec.annotations).toEqual({
      "org.opencontainers.image.os": "linux",
      "org.opencontainers.image.architecture": "amd64",
      "org.opencontainers.image.author": "Alyssa P. Hacker <alyspdev@example.com>",
      "org.opencontainers.image.created": "2015-10-31T22:22:56.015925234Z",
      "org.opencontainers.image.exposedPorts": "8080/tcp",
      "com.example.project.git.url": "https://example.com/project.git",
      "com.example.project.git.commit": "45a939b2999782a3f005621a8d0f29aa387e1d6b",
    });
  });

  it("mounts tmpfs on Volumes only when asked; the rest stays in the rootfs", () => {
    const plain = imageConfigToOciSpec(example, { rootfs });
    expect(plain.mounts.map((m) => m.destination)).toEqual(defaultMounts().map((m) => m.destination));
    const withVolumes = imageConfigToOciSpec(example, { rootfs, volumes: "tmpfs" });
    expect(withVolumes.mounts.slice(-2)).toEqual([
      {
        destination: "/var/job-result-data",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", "mode=0755"],
      },
      {
        destination: "/var/log/my-app-logs",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", "mode=0755"],
      },
    ]);
  });

  it("fails when Config.User is not in the container (conversion.md: MUST return an error)", () => {
    const cfg = base({ User: "bob", Cmd: ["sh"] });
    expect(() => imageConfigToOciSpec(cfg, { rootfs })).toThrow(/user "bob" not found/);
  });
});

describe("process rules", () => {
  it("concatenates Entrypoint and Cmd, or uses either alone", () => {
    expect(imageProcess(base({ Entrypoint: ["/bin/sh", "-c"], Cmd: ["echo hi"] })).args).toEqual([
      "/bin/sh",
      "-c",
      "echo hi",
    ]);
    expect(imageProcess(base({ Cmd: ["sh"] })).args).toEqual(["sh"]);
    expect(imageProcess(base({ Entrypoint: ["/init"], Cmd: null })).args).toEqual(["/init"]);
  });

  it("applies overrides as docker run does: --entrypoint drops the image's Cmd", () => {
    const cfg = base({ Entrypoint: ["/entry"], Cmd: ["default"] });
    expect(imageProcess(cfg, { cmd: ["other"] }).args).toEqual(["/entry", "other"]);
    expect(imageProcess(cfg, { entrypoint: ["/bin/sh"] }).args).toEqual(["/bin/sh"]);
    expect(imageProcess(cfg, { entrypoint: ["/bin/sh"], cmd: ["-c", "id"] }).args).toEqual([
      "/bin/sh",
      "-c",
      "id",
    ]);
    expect(imageProcess(cfg, { entrypoint: [], cmd: ["ls"] }).args).toEqual(["ls"]);
  });

  it("refuses a config without any command", () => {
    expect(() => imageProcess(base({}))).toThrow(/neither Entrypoint nor Cmd/);
    expect(() => imageProcess(base(undefined))).toThrow(/neither Entrypoint nor Cmd/);
  });

  it("merges Env with overrides by name, keeping order", () => {
    const cfg = base({ Cmd: ["sh"], Env: ["A=1", "B=2", "EMPTY="] });
    expect(imageProcess(cfg, { env: ["B=3", "C=4"] }).env).toEqual(["A=1", "B=3", "EMPTY=", "C=4"]);
    expect(imageProcess(cfg, { env: { A: "x=y" } }).env).toEqual(["A=x=y", "B=2", "EMPTY="]);
  });

  it("defaults WorkingDir to / and takes overrides for it and User", () => {
    expect(imageProcess(base({ Cmd: ["sh"] })).cwd).toBe("/");
    expect(imageProcess(base({ Cmd: ["sh"], WorkingDir: "" })).cwd).toBe("/");
    expect(imageProcess(base({ Cmd: ["sh"], WorkingDir: "app" })).cwd).toBe("/app");
    expect(imageProcess(base({ Cmd: ["sh"], WorkingDir: "/srv" }), { workdir: "/tmp" }).cwd).toBe("/tmp");
    expect(imageProcess(base({ Cmd: ["sh"], User: "app" })).user).toBe("app");
    expect(imageProcess(base({ Cmd: ["sh"], User: "" })).user).toBeUndefined();
    expect(imageProcess(base({ Cmd: ["sh"], User: "app" }), { user: "0" }).user).toBe("0");
  });

  it("adds PATH and HOME only when the image has none (conversion.md note 1)", () => {
    const spec = imageConfigToOciSpec(base({ Cmd: ["sh"], Env: ["HOME=/custom"] }), { rootfs });
    expect(spec.process.env).toEqual(["HOME=/custom", `PATH=${DEFAULT_PATH}`]);
  });

  it("resolves User forms: numeric verbatim, name:group, and supplementary groups only without a group", () => {
    const user = (u: string) => imageConfigToOciSpec(base({ Cmd: ["sh"], User: u }), { rootfs }).process.user;
    expect(user("1234:5678")).toEqual({ uid: 1234, gid: 5678 });
    expect(user("app")).toEqual({ uid: 1000, gid: 1000, additionalGids: [50, 29] });
    expect(user("app:staff")).toEqual({ uid: 1000, gid: 50 });
    expect(user("alice:0")).toEqual({ uid: 1500, gid: 0 });
  });
});

describe("annotations", () => {
  it("covers platform fields, stop signal and ports, and lets Labels win", () => {
    const cfg = base(
      {
        Cmd: ["sh"],
        StopSignal: "SIGQUIT",
        ExposedPorts: { "80/tcp": {}, "53/udp": {} },
        Labels: { "org.opencontainers.image.os": "from-label", other: "x" },
      },
      {
        variant: "v8",
        "os.version": "10.0",
        "os.features": ["win32k", "x"],
        created: "2024-01-01T00:00:00Z",
      },
    );
    expect(imageAnnotations(cfg)).toEqual({
      "org.opencontainers.image.os": "from-label",
      "org.opencontainers.image.architecture": "amd64",
      "org.opencontainers.image.variant": "v8",
      "org.opencontainers.image.os.version": "10.0",
      "org.opencontainers.image.os.features": "win32k,x",
      "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
      "org.opencontainers.image.stopSignal": "SIGQUIT",
      "org.opencontainers.image.exposedPorts": "80/tcp,53/udp",
      other: "x",
    });
    expect(imageAnnotations(base({ Cmd: ["sh"], ExposedPorts: {} }))).toEqual({
      "org.opencontainers.image.os": "linux",
      "org.opencontainers.image.architecture": "amd64",
    });
  });
});

describe("buildOciSpec defaults", () => {
  const input = {
    rootfs: "/r",
    args: ["sh"],
    env: ["PATH=/bin"],
    cwd: "/",
    user: { uid: 0, gid: 0, additionalGids: [] },
  };

  it("uses new pid/ipc/uts/mount namespaces, and a network one unless network is host", () => {
    expect(buildOciSpec(input).linux.namespaces.map((n) => n.type)).toEqual([
      "pid",
      "ipc",
      "uts",
      "mount",
      "network",
    ]);
    expect(buildOciSpec({ ...input, network: "host" }).linux.namespaces.map((n) => n.type)).not.toContain(
      "network",
    );
  });

  it("mounts /proc, /dev (+pts, shm, mqueue), /sys and cgroups read-only, then the requested mounts", () => {
    const spec = buildOciSpec({
      ...input,
      mounts: [
        { type: "bind", source: "/host/cache", target: "/cache" },
        { type: "bind", source: "/host/secret", target: "/run/secrets/s", readonly: true },
        { type: "tmpfs", target: "/tmp", sizeBytes: 1024, mode: 0o1777 },
      ],
    });
    expect(spec.mounts.map((m) => `${m.type}:${m.destination}`)).toEqual([
      "proc:/proc",
      "tmpfs:/dev",
      "devpts:/dev/pts",
      "tmpfs:/dev/shm",
      "mqueue:/dev/mqueue",
      "sysfs:/sys",
      "cgroup:/sys/fs/cgroup",
      "bind:/cache",
      "bind:/run/secrets/s",
      "tmpfs:/tmp",
    ]);
    expect(spec.mounts.find((m) => m.destination === "/sys")?.options).toContain("ro");
    expect(spec.mounts.at(-3)?.options).toEqual(["rbind", "rprivate", "rw"]);
    expect(spec.mounts.at(-2)?.options).toEqual(["rbind", "rprivate", "ro"]);
    expect(spec.mounts.at(-1)?.options).toEqual(["nosuid", "nodev", "mode=1777", "size=1024"]);
  });

  it("gives Docker's default capabilities, nothing inheritable or ambient, and no_new_privs", () => {
    const caps = buildOciSpec(input).process.capabilities;
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
    for (const set of [caps.bounding, caps.effective, caps.permitted])
      expect(set).toEqual(DEFAULT_CAPABILITIES);
    expect(caps.inheritable).toEqual([]);
    expect(caps.ambient).toEqual([]);
    expect(caps.bounding).not.toContain("CAP_SYS_ADMIN");
    expect(buildOciSpec(input).process.noNewPrivileges).toBe(true);
  });

  it("masks and write-protects /proc paths and denies devices by default", () => {
    const spec = buildOciSpec(input);
    expect(spec.linux.maskedPaths).toEqual(MASKED_PATHS);
    expect(spec.linux.maskedPaths).toContain("/proc/kcore");
    expect(spec.linux.readonlyPaths).toEqual(READONLY_PATHS);
    expect(spec.linux.resources.devices).toEqual([{ allow: false, access: "rwm" }]);
    expect(spec.hostname).toBe("cairn");
    expect(spec.ociVersion).toMatch(/^1\.0\./);
    expect(spec.annotations).toBeUndefined();
  });

  it("writes additionalGids only when there are some", () => {
    expect(buildOciSpec(input).process.user).toEqual({ uid: 0, gid: 0 });
    expect(buildOciSpec({ ...input, user: { uid: 1, gid: 2, additionalGids: [3] } }).process.user).toEqual({
      uid: 1,
      gid: 2,
      additionalGids: [3],
    });
  });
});

describe("shared pieces", () => {
  it("normalizes environments", () => {
    expect(normalizeEnv(["A=1", "B=2", "A=3"])).toEqual(["A=3", "B=2"]);
    expect(normalizeEnv({ X: "1" })).toEqual(["X=1"]);
    expect(normalizeEnv(undefined)).toEqual([]);
    for (const bad of [["NOEQUALS"], ["=value"], ["A\0B=1"]])
      expect(() => normalizeEnv(bad)).toThrow(/environment/);
  });

  it("decodes exit statuses: codes, 128+N as signal N, host signals", () => {
    expect(decodeExit({ code: 0, signal: null })).toEqual({ exitCode: 0, signal: null });
    expect(decodeExit({ code: 127, signal: null })).toEqual({ exitCode: 127, signal: null });
    expect(decodeExit({ code: 128, signal: null })).toEqual({ exitCode: 128, signal: null });
    expect(decodeExit({ code: 137, signal: null })).toEqual({ exitCode: null, signal: "SIGKILL" });
    expect(decodeExit({ code: 143, signal: null })).toEqual({ exitCode: null, signal: "SIGTERM" });
    expect(decodeExit({ code: 255, signal: null })).toEqual({ exitCode: 255, signal: null });
    expect(decodeExit({ code: null, signal: "SIGKILL" })).toEqual({ exitCode: null, signal: "SIGKILL" });
    expect(shellExitStatus({ exitCode: null, signal: "SIGKILL" })).toBe(137);
    expect(shellExitStatus({ exitCode: null, signal: "SIGTERM" })).toBe(143);
    expect(shellExitStatus({ exitCode: 3, signal: null })).toBe(3);
  });

  it("checks a run spec before any runtime starts", () => {
    const bad = (spec: Parameters<typeof prepareRun>[0]) => {
      try {
        prepareRun(spec);
        return "accepted";
      } catch (e) {
        return isCairnError(e) ? e.code : String(e);
      }
    };
    expect(bad({ rootfs: path.join(work, "missing"), args: ["sh"] })).toBe("E_NOT_FOUND");
    expect(bad({ rootfs, args: [] })).toBe("E_USAGE");
    expect(bad({ rootfs, args: ["sh"], cwd: "relative" })).toBe("E_USAGE");
    expect(bad({ rootfs, args: ["sh"], hostname: "bad host" })).toBe("E_USAGE");
    expect(bad({ rootfs, args: ["sh"], timeoutMs: -1 })).toBe("E_USAGE");
    expect(bad({ rootfs, args: ["sh"], network: "bridge" as "host" })).toBe("E_USAGE");
    expect(bad({ rootfs, args: ["sh"], user: { uid: -1, gid: 0, additionalGids: [] } })).toBe("E_USAGE");
    expect(bad({ rootfs, args: ["sh"], mounts: [{ type: "tmpfs", target: "/proc/x" }] })).toBe("E_USAGE");
    expect(bad({ rootfs, args: ["sh"], mounts: [{ type: "tmpfs", target: "/" }] })).toBe("E_USAGE");
    expect(
      bad({
        rootfs,
        args: ["sh"],
        mounts: [
          { type: "tmpfs", target: "/a" },
          { type: "tmpfs", target: "/a/b" },
        ],
      }),
    ).toBe("E_USAGE");
    expect(bad({ rootfs, args: ["sh"], mounts: [{ type: "bind", source: "/no/such", target: "/x" }] })).toBe(
      "E_NOT_FOUND",
    );
    expect(bad({ rootfs, args: ["nope"] })).toBe("E_NOT_FOUND");
    expect(bad({ rootfs, args: ["sh"], user: "ghost" })).toBe("E_NOT_FOUND");
  });

  it("refuses a rootfs whose /proc is a symlink", () => {
    const evil = makeTestRootfs(path.join(work, "evil-proc"));
    fs.symlinkSync("/etc", path.join(evil, "proc"));
    expect(() => prepareRun({ rootfs: evil, args: ["sh"] })).toThrow(/symlink/);
  });

  it("resolves a run spec: user ids, env defaults, mount points", () => {
    const p = prepareRun({ rootfs, args: ["sh"], user: "app", env: ["X=1"], cwd: "/w/x" });
    expect(p.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [50, 29] });
    expect(p.env).toEqual(["X=1", `PATH=${DEFAULT_PATH}`, "HOME=/home/app"]);
    expect(p.rootfs).toBe(fs.realpathSync(rootfs));
    for (const d of ["proc", "dev", "sys", "w/x"])
      expect(fs.statSync(path.join(rootfs, d)).isDirectory()).toBe(true);
  });
});
