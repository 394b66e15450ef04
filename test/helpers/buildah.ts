/**
 * buildah as a reference builder for the build-equivalence tests: a private storage root per
 * test run (vfs driver, chroot isolation: no daemon, no overlay mounts), `bud` of a context, the
 * result exported as an OCI layout, and its Docker-format config; plus comparable descriptions
 * of a merged rootfs and of the config fields both builders must agree on.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { requireTool } from "./tools.js";
import { describeTree } from "./union.js";

const execFileAsync = promisify(execFile);

/** What `bud` builds. */
export interface BudOptions {
  context: string;
  /** The Dockerfile (default `CONTEXT/Dockerfile`). */
  dockerfile?: string;
  /** The name the result is tagged with in buildah's storage. */
  tag: string;
  buildArgs?: Readonly<Record<string, string>>;
  target?: string;
}

/** The container config of an image: the fields both builders write. */
export type ConfigFields = Record<string, unknown>;

/**
 * A buildah with its own storage root, removed by {@link Buildah.close}.
 *
 * @example
 * const buildah = Buildah.create();
 * await buildah.bud({ context: dir, tag: "localhost/case:latest" });
 * await buildah.pushLayout("localhost/case:latest", layoutDir, "case");
 * buildah.close();
 */
export class Buildah {
  private constructor(
    private readonly binary: string,
    /** The directory holding the storage root and the run root. */
    readonly dir: string,
  ) {}

  /** Finds buildah (failing with the Debian package to install) and makes a private storage root. */
  static create(): Buildah {
    const binary = requireTool("buildah", "buildah");
    return new Buildah(binary, mkdtempSync(path.join(os.tmpdir(), "cairn-buildah-")));
  }

  private globalArgs(): string[] {
    return [
      "--root",
      path.join(this.dir, "root"),
      "--runroot",
      path.join(this.dir, "runroot"),
      "--storage-driver",
      "vfs",
    ];
  }

  /** Runs `buildah ARGS` with the private storage; rejects with its stderr. */
  async run(args: string[]): Promise<string> {
    try {
      const { stdout } = await execFileAsync(this.binary, [...this.globalArgs(), ...args], {
        env: { ...process.env, BUILDAH_ISOLATION: "chroot", STORAGE_DRIVER: "vfs" },
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string; stdout?: string };
      throw new Error(`buildah ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
    }
  }

  /** Pulls an image from a plain-HTTP registry into the private storage (shared by later builds). */
  async pull(reference: string): Promise<void> {
    await this.run(["pull", "--tls-verify=false", "--quiet", reference]);
  }

  /**
   * `buildah bud` in chroot isolation, keeping the Docker config format (the OCI one has no
   * Healthcheck, Shell or OnBuild) and the layers squashed per build (buildah's default).
   */
  async bud(options: BudOptions): Promise<void> {
    const args = [
      "bud",
      "--isolation",
      "chroot",
      "--format",
      "docker",
      "--tls-verify=false",
      "--pull=false",
      "--quiet",
      "-t",
      options.tag,
      "-f",
      options.dockerfile ?? path.join(options.context, "Dockerfile"),
    ];
    for (const [k, v] of Object.entries(options.buildArgs ?? {})) args.push("--build-arg", `${k}=${v}`);
    if (options.target !== undefined) args.push("--target", options.target);
    args.push(options.context);
    await this.run(args);
  }

  /** Writes the image `tag` as `oci:LAYOUT:LAYOUT_TAG`. */
  async pushLayout(tag: string, layout: string, layoutTag: string): Promise<void> {
    mkdirSync(path.dirname(layout), { recursive: true });
    await this.run(["push", "--quiet", tag, `oci:${layout}:${layoutTag}`]);
  }

  /** The Docker-format container config of the image `tag` (`buildah inspect`). */
  async dockerConfig(tag: string): Promise<{ config: ConfigFields; author?: string }> {
    const out = JSON.parse(await this.run(["inspect", "--type", "image", tag])) as {
      Docker?: { config?: ConfigFields; author?: string };
    };
    const docker = out.Docker ?? {};
    return { config: docker.config ?? {}, ...(docker.author ? { author: docker.author } : {}) };
  }

  /** Removes the storage root. */
  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The config fields compared between cairn and buildah (the container config in the image config). */
export const COMPARED_CONFIG_FIELDS = [
  "Env",
  "Cmd",
  "Entrypoint",
  "WorkingDir",
  "User",
  "ExposedPorts",
  "Labels",
  "Volumes",
  "StopSignal",
  "Healthcheck",
  "Shell",
  "OnBuild",
] as const;

/**
 * Labels buildah adds to every image it commits (`io.buildah.version`): a statement about the
 * builder, not something the Dockerfile asked for.
 */
export const BUILDER_LABELS = ["io.buildah.version"];

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === "object" && Object.keys(v as object).length === 0;
}

/**
 * The compared fields of a container config, with absent, `null`, `""`, `[]` and `{}` all
 * meaning "not set", and builder labels dropped. Go writes `null`, `""` or `[]` for unset fields
 * where TypeScript leaves them out (buildah writes `"Entrypoint": []` and `"OnBuild": []` for an
 * image that has none, and `"Cmd": []` where BuildKit clears Cmd); a runtime reads an empty
 * Cmd, Entrypoint or OnBuild list as no list.
 *
 * @example
 * comparableConfig({ Env: ["A=1"], Entrypoint: null, Labels: { "io.buildah.version": "1.28.2" } })
 * // { Env: ["A=1"] }
 */
export function comparableConfig(config: ConfigFields | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of COMPARED_CONFIG_FIELDS) {
    let v = config?.[field];
    if (field === "Labels" && v && typeof v === "object") {
      v = Object.fromEntries(Object.entries(v).filter(([k]) => !BUILDER_LABELS.includes(k)));
    }
    if (!isEmpty(v)) out[field] = v;
  }
  return out;
}

/**
 * Mount points a runtime creates in the rootfs for a RUN step when the image lacks them. BuildKit
 * removes the stubs it created after the step (its "mount stubs cleaner"), and so does cairn;
 * buildah 1.28 in chroot isolation leaves them behind as empty directories and empty files.
 */
export const RUNTIME_MOUNT_STUBS = [
  "dev",
  "proc",
  "sys",
  "run",
  "etc/hosts",
  "etc/hostname",
  "etc/resolv.conf",
];

function isEmptyStub(rootfs: string, rel: string): boolean {
  const st = statSync(path.join(rootfs, rel), { throwIfNoEntry: false });
  if (!st) return false;
  if (st.isDirectory()) return readdirSync(path.join(rootfs, rel)).length === 0;
  return st.isFile() && st.size === 0;
}

/**
 * Every path of the unpacked rootfs `rootfs` described as `type mode uid:gid [size hash | -> target]`
 * (see `describeTree`), without the runtime mount stubs named in `stubs` when they are empty.
 *
 * @example
 * describeRootfs("/tmp/bundle/rootfs", ["proc", "sys"]).get("etc/passwd") // "file 644 0:0 118 388ed667e20411fd"
 */
export function describeRootfs(rootfs: string, stubs: readonly string[] = []): Map<string, string> {
  const tree = describeTree(rootfs);
  for (const stub of stubs) if (isEmptyStub(rootfs, stub)) tree.delete(stub);
  return tree;
}
