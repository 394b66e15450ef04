/**
 * Equivalence with buildah: every Dockerfile suite in test/buildah-cases/ is built by cairn and
 * by buildah (Debian `buildah`, chroot isolation, vfs storage) from the same base image in a test
 * registry, and the merged root filesystems (paths, types, modes, owners, link targets, contents)
 * and the container configs must be equal.
 *
 * Where buildah deviates from Docker/BuildKit, cairn follows BuildKit and the case says so: see
 * `dockerConfig` in the case table, each with the reason. What is never compared:
 * - timestamps (mtimes, `created`) and history text: each builder writes its own;
 * - how the files are split into layers: buildah commits one layer per build (its default
 *   `--layers=false`), cairn one per step as BuildKit does; the merged tree is what must agree;
 * - the runtime mount stubs buildah leaves (see RUNTIME_MOUNT_STUBS): BuildKit removes them;
 * - buildah's `io.buildah.version` label (see BUILDER_LABELS);
 * - the difference between an unset config field and an empty one (see comparableConfig);
 * - the root directory itself, which each unpacker makes on its own.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuildRuntime, build } from "../src/build/index.js";
import { closeRegistryConnections } from "../src/registry/index.js";
import { detectRuntime } from "../src/runtime/index.js";
import { unpackImage } from "../src/unionfs/index.js";
import { cleanup, tempDir } from "./build-helpers.js";
import {
  Buildah,
  type ConfigFields,
  comparableConfig,
  describeRootfs,
  RUNTIME_MOUNT_STUBS,
} from "./helpers/buildah.js";
import { repoRoot } from "./helpers/conformance.js";
import { makeBusyboxRootfs, makeUmociImage } from "./helpers/images.js";
import { startRegistry, type TestRegistry } from "./helpers/registry.js";
import { isRoot, requireTool } from "./helpers/tools.js";
import { treeDiff, umociUnpack } from "./helpers/union.js";

const CASES_DIR = path.join(repoRoot, "test/buildah-cases");

/** One Dockerfile suite: its directory under test/buildah-cases and how it is built. */
interface BuildCase {
  name: string;
  /** The directory under test/buildah-cases (default `name`). */
  dir?: string;
  buildArgs?: Record<string, string>;
  target?: string;
  /** Prepares the context copy further (files git cannot hold: owners, archives). */
  setup?: (context: string) => void;
  /**
   * Where buildah deviates from Docker/BuildKit: buildah's config fields replaced by what
   * BuildKit writes, so the comparison asserts Docker's behaviour (each with the reason).
   */
  dockerConfig?: Record<string, unknown>;
}

/**
 * A scratch stage starts with WorkingDir "/" in BuildKit (emptyImage); buildah leaves it unset.
 * Both mean the same to a runtime.
 */
const SCRATCH_CONFIG = { WorkingDir: "/" };

const CASES: BuildCase[] = [
  {
    name: "config",
    // EXPOSE 8000-8002: BuildKit (dispatchExpose, parsePortSpec) records each port of a range;
    // buildah 1.28 keeps the range as one key ("8000-8002/tcp"), which no runtime reads as ports.
    dockerConfig: {
      ExposedPorts: {
        "443/tcp": {},
        "53/udp": {},
        "80/tcp": {},
        "8000/tcp": {},
        "8001/tcp": {},
        "8002/tcp": {},
      },
    },
  },
  {
    name: "entrypoint-shell",
    // Shell-form CMD and ENTRYPOINT: BuildKit (dispatchCmd/dispatchEntrypoint, withShell) wraps
    // them in the stage's SHELL; buildah 1.28 always uses /bin/sh -c for them (it honours SHELL
    // only for RUN).
    dockerConfig: {
      Cmd: ["/bin/sh", "-e", "-c", 'echo "shell form" $HOME'],
      Entrypoint: ["/bin/sh", "-e", "-c", 'exec /bin/echo "entry point"'],
    },
  },
  { name: "healthcheck-none" },
  {
    name: "args",
    buildArgs: { OVERRIDDEN: "from-cli", FROM_CLI: "given", VERSION: "1" },
  },
  { name: "workdir-user" },
  { name: "copy", setup: makeHardlinks },
  { name: "add", setup: makeArchives },
  { name: "multistage" },
  // --target: only the stages the target needs are built (a later stage would fail if it ran).
  { name: "multistage-target", dir: "multistage", target: "assets", dockerConfig: SCRATCH_CONFIG },
  { name: "scratch", dockerConfig: SCRATCH_CONFIG },
  { name: "run" },
];

/** linked/one and linked/two for the COPY case: one file with two names (git cannot hold that). */
function makeHardlinks(context: string): void {
  mkdirSync(path.join(context, "linked"));
  writeFileSync(path.join(context, "linked/one"), "one file, two names\n");
  execFileSync("ln", [path.join(context, "linked/one"), path.join(context, "linked/two")]);
}

/** tree.tar, tree.tar.gz and single.gz for the ADD case: a tree with owners, modes and links. */
function makeArchives(context: string): void {
  const tree = path.join(context, "tree-src");
  mkdirSync(path.join(tree, "bin"), { recursive: true });
  mkdirSync(path.join(tree, "etc/conf.d"), { recursive: true });
  writeFileSync(path.join(tree, "bin/tool"), "#!/bin/sh\necho tool\n");
  chmodSync(path.join(tree, "bin/tool"), 0o755);
  writeFileSync(path.join(tree, "etc/conf.d/secret"), "secret=1\n");
  chmodSync(path.join(tree, "etc/conf.d/secret"), 0o600);
  chownSync(path.join(tree, "etc/conf.d/secret"), 1000, 1000);
  chmodSync(path.join(tree, "etc/conf.d"), 0o750);
  chownSync(path.join(tree, "etc/conf.d"), 1000, 50);
  writeFileSync(path.join(tree, "etc/from-archive"), "archive\n");
  execFileSync("ln", ["-s", "conf.d/secret", path.join(tree, "etc/secret-link")]);
  execFileSync("ln", [path.join(tree, "bin/tool"), path.join(tree, "bin/tool-hardlink")]);
  requireTool("tar");
  const tar = (out: string, gzip: boolean) =>
    execFileSync("tar", [
      "--sort=name",
      "--numeric-owner",
      "--mtime=@1600000000",
      "--format=gnu",
      "-C",
      tree,
      gzip ? "-czf" : "-cf",
      path.join(context, out),
      "bin",
      "etc",
    ]);
  tar("tree.tar", false);
  tar("tree.tar.gz", true);
  writeFileSync(path.join(context, "single.gz"), gzipSync("gzip of a plain file\n"));
  cleanup(tree);
}

/** The base image: busybox with users and groups to resolve, a writable /tmp and a home. */
function makeBase(root: string): string {
  const rootfs = makeBusyboxRootfs(path.join(root, "rootfs"));
  writeFileSync(
    path.join(rootfs, "etc/passwd"),
    [
      "root:x:0:0:root:/root:/bin/sh",
      "app:x:1000:1000:app:/home/app:/bin/sh",
      "nobody:x:65534:65534:nobody:/:/bin/false",
      "",
    ].join("\n"),
  );
  writeFileSync(path.join(rootfs, "etc/group"), "root:x:0:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n");
  chmodSync(path.join(rootfs, "tmp"), 0o1777);
  mkdirSync(path.join(rootfs, "home/app"), { recursive: true });
  writeFileSync(path.join(rootfs, "home/app/.profile"), "export APP=1\n");
  chownSync(path.join(rootfs, "home/app"), 1000, 1000);
  chownSync(path.join(rootfs, "home/app/.profile"), 1000, 1000);
  const layout = path.join(root, "layout");
  makeUmociImage(layout, "busybox", rootfs);
  return layout;
}

/** A gate: the function it returns runs its argument once fewer than `limit` others are running. */
function limiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

let reg: TestRegistry;
let root: string;
let store: string;
let buildah: Buildah;
let runtime: BuildRuntime;
const slot = limiter(2);

beforeAll(async () => {
  if (!isRoot()) {
    throw new Error(
      "the buildah equivalence tests need root (buildah's chroot isolation, owners kept when unpacking)",
    );
  }
  requireTool("skopeo");
  requireTool("umoci");
  root = tempDir("buildah");
  store = tempDir("buildah-store");
  buildah = Buildah.create();
  reg = await startRegistry();
  const layout = makeBase(path.join(root, "base"));
  execFileSync("skopeo", [
    "copy",
    "--quiet",
    "--dest-tls-verify=false",
    `oci:${layout}:busybox`,
    `docker://${reg.host}/base/busybox:1`,
  ]);
  runtime = await detectRuntime();
  // One pull per builder, shared by every case.
  await buildah.pull(`${reg.host}/base/busybox:1`);
  const empty = path.join(root, "empty");
  mkdirSync(empty);
  await build({ context: empty, dockerfileText: `FROM ${reg.host}/base/busybox:1\n`, store });
}, 120_000);

afterAll(async () => {
  await closeRegistryConnections();
  await reg?.stop();
  buildah?.close();
  cleanup(root, store);
});

/** A copy of the case's context with the registry filled in and the case's setup run. */
function prepareContext(c: BuildCase): string {
  const context = path.join(root, "ctx", c.name);
  cpSync(path.join(CASES_DIR, c.dir ?? c.name), context, { recursive: true, verbatimSymlinks: true });
  const dockerfile = path.join(context, "Dockerfile");
  writeFileSync(dockerfile, readFileSync(dockerfile, "utf8").replaceAll("{{REGISTRY}}", reg.host));
  c.setup?.(context);
  return context;
}

interface Built {
  tree: Map<string, string>;
  config: Record<string, unknown>;
  author?: string;
}

async function buildWithCairn(c: BuildCase, context: string): Promise<Built> {
  const result = await build({
    context,
    store,
    runtime,
    ...(c.buildArgs ? { buildArgs: c.buildArgs } : {}),
    ...(c.target ? { target: c.target } : {}),
  });
  const rootfs = path.join(root, "cairn-rootfs", c.name);
  await unpackImage(result.image, rootfs);
  const config = await result.image.config();
  return {
    tree: describeRootfs(rootfs),
    config: comparableConfig(config.config as ConfigFields | undefined),
    ...(config.author ? { author: config.author } : {}),
  };
}

async function buildWithBuildah(
  c: BuildCase,
  context: string,
  cairnTree: Map<string, string>,
): Promise<Built> {
  const tag = `localhost/cairn-case/${c.name}:latest`;
  await buildah.bud({
    context,
    tag,
    ...(c.buildArgs ? { buildArgs: c.buildArgs } : {}),
    ...(c.target ? { target: c.target } : {}),
  });
  const layout = path.join(root, "buildah-layout", c.name);
  await buildah.pushLayout(tag, layout, "case");
  const rootfs = umociUnpack(layout, "case", path.join(root, "buildah-bundle", c.name));
  const { config, author } = await buildah.dockerConfig(tag);
  const stubs = RUNTIME_MOUNT_STUBS.filter((s) => !cairnTree.has(s));
  return {
    tree: describeRootfs(rootfs, stubs),
    config: comparableConfig(config),
    ...(author ? { author } : {}),
  };
}

describe("cairn build equals buildah bud", () => {
  for (const c of CASES) {
    it.concurrent(
      c.name,
      () =>
        slot(async () => {
          const context = prepareContext(c);
          const cairn = await buildWithCairn(c, context);
          const peer = await buildWithBuildah(c, context, cairn.tree);
          Object.assign(peer.config, c.dockerConfig ?? {});
          expect(treeDiff(cairn.tree, peer.tree), `rootfs of ${c.name}: cairn | buildah`).toEqual([]);
          expect(cairn.config, `config of ${c.name}`).toEqual(peer.config);
          expect(cairn.author, `author of ${c.name}`).toEqual(peer.author);
        }),
      120_000,
    );
  }
});
