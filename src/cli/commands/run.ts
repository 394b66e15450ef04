import { CairnError } from "../../errors/index.js";
import { isImageIndex } from "../../image/index.js";
import { hostPlatform } from "../../manifest/index.js";
import { openImage } from "../../registry/index.js";
import { isRuntimeName, runImage, shellExitStatus } from "../../runtime/index.js";
import { parseCommandArgs } from "../args.js";
import type { Command } from "../command.js";
import { registryFlags, registryOptions } from "../registry-flags.js";

function envPairs(values: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of (values as string[] | undefined) ?? []) {
    const eq = kv.indexOf("=");
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
    else if (process.env[kv] !== undefined) out[kv] = process.env[kv] as string;
  }
  return out;
}

export const run: Command = {
  name: "run",
  summary: "run a command in an image through runc, crun, bubblewrap or chroot",
  usage: [
    "Usage: cairn run [--runtime NAME] [--rm] [-e K=V]... [-w DIR] [-u USER] [--entrypoint CMD]",
    "                 [--network none|host] [--timeout SECONDS] IMAGE [CMD...]",
    "",
    "Mounts IMAGE writable over its shared layer snapshots (overlayfs where the kernel allows, a",
    "copy otherwise), runs its Entrypoint + Cmd (or CMD...) with stdio attached, and exits with the",
    "container's exit code (128+N for a signal). The network is none unless --network host.",
    "--runtime picks runc, crun, bwrap or chroot (default: the first that works here). The",
    "container's changes are always discarded (--rm is accepted for docker compatibility).",
  ].join("\n"),
  async run(args, io) {
    // options stop at the image: what follows it is the container's command line
    const firstPositional = findImageIndex(args);
    const own = firstPositional < 0 ? args : args.slice(0, firstPositional + 1);
    const cmd = firstPositional < 0 ? [] : args.slice(firstPositional + 1);
    const { values, positionals } = parseCommandArgs(
      "run",
      own,
      {
        ...registryFlags,
        runtime: { type: "string" },
        rm: { type: "boolean" },
        env: { type: "string", short: "e", multiple: true },
        workdir: { type: "string", short: "w" },
        user: { type: "string", short: "u" },
        entrypoint: { type: "string" },
        network: { type: "string" },
        timeout: { type: "string" },
      },
      { min: 1, max: 1, names: "IMAGE [CMD...]" },
    );
    const runtime = values.runtime;
    if (typeof runtime === "string" && !isRuntimeName(runtime)) {
      throw new CairnError("E_USAGE", `unknown runtime "${runtime}": expected runc, crun, bwrap or chroot`);
    }
    const network = values.network ?? "none";
    if (network !== "none" && network !== "host") {
      throw new CairnError("E_USAGE", `--network must be none or host, found "${String(network)}"`);
    }
    let image = await openImage(positionals[0] as string, registryOptions(values));
    if (isImageIndex(image)) image = await image.image(hostPlatform());
    const env = envPairs(values.env);
    const result = await runImage(image, {
      ...(cmd.length ? { cmd } : {}),
      ...(typeof values.entrypoint === "string" ? { entrypoint: [values.entrypoint] } : {}),
      ...(Object.keys(env).length ? { env } : {}),
      ...(typeof values.workdir === "string" ? { workdir: values.workdir } : {}),
      ...(typeof values.user === "string" ? { user: values.user } : {}),
      ...(typeof runtime === "string" ? { runtime } : {}),
      ...(typeof values.timeout === "string" ? { timeoutMs: Number(values.timeout) * 1000 } : {}),
      network,
      io: { stdin: process.stdin.isTTY ? "ignore" : process.stdin, stdout: "inherit", stderr: "inherit" },
    });
    if (result.timedOut) io.err(`cairn run: timed out after ${values.timeout} s`);
    return shellExitStatus(result);
  },
};

const VALUE_FLAGS = new Set([
  "--runtime",
  "-e",
  "--env",
  "-w",
  "--workdir",
  "-u",
  "--user",
  "--entrypoint",
  "--network",
  "--timeout",
  "--ca-file",
  "-j",
  "--jobs",
]);

/** Index of the IMAGE argument: the first word that is neither a flag nor a flag's value. */
function findImageIndex(args: string[]): number {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") return i + 1 < args.length ? i + 1 : -1;
    if (a.startsWith("-")) {
      if (VALUE_FLAGS.has(a)) i++;
      continue;
    }
    return i;
  }
  return -1;
}
