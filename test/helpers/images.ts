import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { requireTool } from "./tools.js";

const APPLETS = [
  "sh",
  "ls",
  "cat",
  "echo",
  "true",
  "false",
  "env",
  "id",
  "pwd",
  "mkdir",
  "rm",
  "touch",
  "sleep",
  "test",
];

/**
 * Makes a tiny root filesystem from Debian's busybox-static: /bin/busybox with applet symlinks,
 * /etc/passwd and /etc/group, /tmp. Returns `dir`.
 */
export function makeBusyboxRootfs(dir: string): string {
  const busybox = requireTool("busybox", "busybox-static");
  mkdirSync(path.join(dir, "bin"), { recursive: true });
  mkdirSync(path.join(dir, "etc"), { recursive: true });
  mkdirSync(path.join(dir, "tmp"), { recursive: true, mode: 0o1777 });
  copyFileSync(busybox, path.join(dir, "bin/busybox"));
  execFileSync("chmod", ["0755", path.join(dir, "bin/busybox")]);
  for (const a of APPLETS) symlinkSync("busybox", path.join(dir, "bin", a));
  writeFileSync(
    path.join(dir, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
  );
  writeFileSync(path.join(dir, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  return dir;
}

/** Tars `dir` with GNU tar, deterministically; `gzip` compresses it. */
export function tarDir(dir: string, out: string, gzip = true): string {
  requireTool("tar");
  execFileSync("tar", [
    "--sort=name",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--mtime=@0",
    "--format=pax",
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
    "-C",
    dir,
    gzip ? "-czf" : "-cf",
    out,
    ".",
  ]);
  return out;
}

/**
 * Makes an OCI layout at `layout` holding `tag`, built by umoci from `rootfs` (one layer),
 * with `/bin/sh` as its command. Returns the layout path.
 */
export function makeUmociImage(layout: string, tag: string, rootfs: string): string {
  requireTool("umoci");
  execFileSync("umoci", ["init", "--layout", layout]);
  execFileSync("umoci", ["new", "--image", `${layout}:${tag}`]);
  execFileSync("umoci", ["insert", "--image", `${layout}:${tag}`, rootfs, "/"]);
  execFileSync("umoci", [
    "config",
    "--image",
    `${layout}:${tag}`,
    "--config.cmd",
    "/bin/sh",
    "--config.env",
    "A=1",
  ]);
  return layout;
}

/** Runs a command and returns its stdout as text. */
export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
