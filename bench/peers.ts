/**
 * The peers the bench compares cairn with, and the Debian packages that provide them: the test
 * list (scripts/packages.txt: skopeo, umoci, docker-registry, busybox-static, runtimes) plus the
 * bench-only list (scripts/bench-packages.txt: buildah, pigz, GNU time). Missing ones are
 * installed with apt-get when running as root, as scripts/test-setup.mjs does for the tests.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The test setup script is plain JS without types; loaded by URL so tsc does not resolve it.
const testSetup = (await import(new URL("../scripts/test-setup.mjs", import.meta.url).href)) as {
  readPackageList(file?: string): PeerPackage[];
};
const scripts = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../scripts");

/** A Debian package and the binary that shows it is installed. */
export interface PeerPackage {
  pkg: string;
  bin: string;
}

/** What {@link ensureBenchPeers} did. */
export interface PeerSetup {
  /** Packages apt-get installed in this run. */
  installed: string[];
  /** Packages still missing (not root, or apt-get failed): their bench rows are skipped. */
  missing: string[];
}

/**
 * Every package the bench uses: the test list and the bench-only list.
 *
 * @example
 * ```ts
 * benchPackages().map((p) => p.pkg) // ["skopeo", "umoci", …, "buildah", "pigz", "time"]
 * ```
 */
export function benchPackages(): PeerPackage[] {
  const lists = [path.join(scripts, "packages.txt"), path.join(scripts, "bench-packages.txt")];
  const seen = new Set<string>();
  const out: PeerPackage[] = [];
  for (const list of lists) {
    for (const p of testSetup.readPackageList(list)) {
      if (seen.has(p.pkg)) continue;
      seen.add(p.pkg);
      out.push(p);
    }
  }
  return out;
}

function aptInstall(pkgs: string[]): void {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () =>
    execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...pkgs], {
      stdio: ["ignore", "inherit", "inherit"],
      env,
    });
  try {
    install();
  } catch {
    execFileSync("apt-get", ["update", "-qq"], { stdio: ["ignore", "inherit", "inherit"], env });
    install();
  }
}

/**
 * Installs the missing bench packages when root; otherwise reports them (the bench then skips
 * the rows that need them and says so on the page).
 *
 * @example
 * ```ts
 * const { missing } = ensureBenchPeers();
 * if (missing.length) console.error(`skipping peers: ${missing.join(" ")}`);
 * ```
 */
export function ensureBenchPeers(): PeerSetup {
  const missing = benchPackages().filter(({ bin }) => !existsSync(bin));
  if (missing.length === 0) return { installed: [], missing: [] };
  const names = missing.map((m) => m.pkg);
  if (process.getuid?.() !== 0) {
    console.error(`bench: missing Debian packages (not root, not installing): ${names.join(" ")}`);
    return { installed: [], missing: names };
  }
  console.error(`bench: installing ${names.join(" ")}`);
  try {
    aptInstall(names);
  } catch (e) {
    console.error(`bench: apt-get failed: ${(e as Error).message}`);
  }
  const still = missing.filter(({ bin }) => !existsSync(bin)).map((m) => m.pkg);
  return { installed: names.filter((n) => !still.includes(n)), missing: still };
}

/**
 * Whether a binary is on this machine (an absolute path, or a name looked up in PATH).
 *
 * @example
 * ```ts
 * if (hasTool("pigz")) rows.push(await pigzRow());
 * ```
 */
export function hasTool(bin: string): boolean {
  if (bin.includes("/")) return existsSync(bin);
  return (process.env.PATH ?? "").split(":").some((dir) => dir !== "" && existsSync(path.join(dir, bin)));
}

/** The environment skopeo runs with in the benches: no auth file, so it never reads real credentials. */
export const SKOPEO_ENV = { ...process.env, REGISTRY_AUTH_FILE: "/nonexistent/cairn-bench-auth.json" };

/**
 * Arguments for `skopeo copy SRC DEST` against the benches' local, plain-HTTP registries.
 * `--preserve-digests` makes skopeo move the image as it is, like cairn: without it skopeo gzips
 * uncompressed layers on the way to a registry or an OCI layout, so the two tools would not be
 * doing the same job (its push got slower, and its pull of its own gzip layers skipped work).
 */
export function skopeoCopyArgs(src: string, dest: string): string[] {
  return [
    "--insecure-policy",
    "copy",
    "--preserve-digests",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    "--src-no-creds",
    "--dest-no-creds",
    src,
    dest,
  ];
}

/**
 * Arguments for `buildah bud` as the benches run it: vfs storage under `storage`, chroot
 * isolation, a layer per step (`--layers`), quiet.
 */
export function buildahBudArgs(storage: string, dockerfile: string, context: string, tag: string): string[] {
  return [
    "--root",
    path.join(storage, "root"),
    "--runroot",
    path.join(storage, "runroot"),
    "--storage-driver",
    "vfs",
    "bud",
    "--isolation",
    "chroot",
    "--layers",
    "--quiet",
    "-f",
    dockerfile,
    "-t",
    tag,
    context,
  ];
}
