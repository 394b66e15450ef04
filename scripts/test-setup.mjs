#!/usr/bin/env node
// Brings up what the integration suites need: installs the Debian packages listed in
// scripts/packages.txt when running as root, and otherwise fails naming what to install.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** Parses packages.txt into `{ pkg, bin }` pairs. */
export function readPackageList(file = path.join(here, "packages.txt")) {
  return readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const [pkg, bin] = l.split(/\s+/);
      return { pkg, bin };
    });
}

function aptInstall(pkgs) {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () =>
    execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...pkgs], {
      stdio: "inherit",
      env,
    });
  try {
    install();
  } catch {
    execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
    install();
  }
}

function main() {
  const missing = readPackageList().filter(({ bin }) => !existsSync(bin));
  if (missing.length === 0) return;
  const names = missing.map((m) => m.pkg);
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot) {
    console.error(
      `test setup: missing Debian packages: ${names.join(" ")}\n` +
        `install them with: sudo apt-get install -y ${names.join(" ")}`,
    );
    process.exit(1);
  }
  console.log(`test setup: installing ${names.join(" ")}`);
  aptInstall(names);
  const still = missing.filter(({ bin }) => !existsSync(bin));
  if (still.length > 0) {
    console.error(`test setup: still missing after apt-get: ${still.map((m) => m.pkg).join(" ")}`);
    process.exit(1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
