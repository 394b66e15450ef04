import { readFile } from "node:fs/promises";
import path from "node:path";
import { formatPlan, planBuild } from "../../dockerfile/index.js";
import { CairnError } from "../../errors/index.js";
import { parseCommandArgs } from "../args.js";
import type { Command } from "../command.js";

function buildArgs(values: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of (values as string[] | undefined) ?? []) {
    const eq = kv.indexOf("=");
    if (eq <= 0) {
      const fromEnv = process.env[kv];
      if (fromEnv === undefined) continue;
      out[kv] = fromEnv;
    } else out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

export const build: Command = {
  name: "build",
  summary: "plan (and, with the build module, execute) a Dockerfile build",
  usage: [
    "Usage: cairn build [-f FILE] [--build-arg K=V]... [--target STAGE] [--platform P] --dry-run [--json] CONTEXT",
    "",
    "--dry-run parses the Dockerfile and prints the build plan: the stages the target needs,",
    "their bases and dependencies, each step with its expanded arguments, COPY sources with their",
    "content digests after .dockerignore, and cache keys. Nothing runs.",
  ].join("\n"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "build",
      args,
      {
        file: { type: "string", short: "f" },
        "build-arg": { type: "string", multiple: true },
        target: { type: "string" },
        platform: { type: "string" },
        "dry-run": { type: "boolean" },
        json: { type: "boolean" },
      },
      { min: 1, max: 1, names: "one CONTEXT directory" },
    );
    const context = positionals[0] as string;
    const dockerfilePath = typeof values.file === "string" ? values.file : path.join(context, "Dockerfile");
    const text = await readFile(dockerfilePath).catch((e: NodeJS.ErrnoException) => {
      throw new CairnError("E_NOT_FOUND", `cannot read Dockerfile ${dockerfilePath}: ${e.code ?? e.message}`);
    });
    const plan = await planBuild({
      dockerfile: text,
      dockerfileName: path.relative(context, dockerfilePath) || "Dockerfile",
      context,
      buildArgs: buildArgs(values["build-arg"]),
      ...(typeof values.target === "string" ? { target: values.target } : {}),
      ...(typeof values.platform === "string" ? { platform: values.platform } : {}),
    });
    if (!values["dry-run"]) {
      throw new CairnError(
        "E_USAGE",
        "executing builds needs the build module, which is not in this version: use --dry-run",
      );
    }
    io.out(values.json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
    return 0;
  },
};
