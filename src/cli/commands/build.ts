import path from "node:path";
import { type BuildSecret, plainProgress, planImageBuild, build as runBuild } from "../../build/index.js";
import { formatPlan } from "../../dockerfile/index.js";
import { CairnError } from "../../errors/index.js";
import { detectRuntime, requireRuntime } from "../../runtime/index.js";
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

/** `--secret id=ID[,src=FILE|,env=VAR]` (docker's syntax; `source`/`type=file` accepted). */
function secrets(values: unknown): Record<string, BuildSecret> {
  const out: Record<string, BuildSecret> = {};
  for (const spec of (values as string[] | undefined) ?? []) {
    const fields = new Map<string, string>();
    for (const part of spec.split(",")) {
      const eq = part.indexOf("=");
      fields.set(eq < 0 ? part : part.slice(0, eq), eq < 0 ? "" : part.slice(eq + 1));
    }
    const id = fields.get("id");
    if (!id) throw new CairnError("E_USAGE", `--secret ${spec}: expected id=ID[,src=FILE|,env=VAR]`);
    const src = fields.get("src") ?? fields.get("source");
    const env = fields.get("env");
    if (src) out[id] = { file: src };
    else {
      const value = process.env[env ?? id];
      if (value === undefined) {
        throw new CairnError("E_USAGE", `--secret ${spec}: no src= and no environment variable ${env ?? id}`);
      }
      out[id] = value;
    }
  }
  return out;
}

function strings(v: unknown): string[] {
  return ((v as string[] | undefined) ?? []).filter((s) => typeof s === "string");
}

/**
 * `cairn build`: runs the build module's `build()` with BuildKit-style plain progress, or prints
 * the plan with `--dry-run`.
 *
 * @example
 * ```ts
 * await build.run(["-t", "app:1", "./app"], io);
 * ```
 */
export const build: Command = {
  name: "build",
  summary: "build an image from a Dockerfile (or print its plan with --dry-run)",
  usage: [
    "Usage: cairn build [-f FILE] [-t TAG]... [--build-arg K=V]... [--target STAGE] [--platform P]",
    "                   [-o DEST]... [--no-cache] [--runtime NAME] [--secret id=ID,src=FILE]...",
    "                   [-q] [--explain-cache] [--dry-run [--json]] CONTEXT",
    "",
    "Builds the Dockerfile (default CONTEXT/Dockerfile) and tags the image in the default store.",
    "Steps are printed as `docker build --progress=plain` prints them (on stderr); unchanged",
    "steps come from the step cache and are marked CACHED. The image digest goes to stdout.",
    "",
    "  -t, --tag NAME        tag the image in the default store (repeatable)",
    "  -o, --output DEST     also write it to oci:DIR[:TAG], docker-archive:FILE[:REF] or",
    "                        docker://REF (repeatable)",
    "  --no-cache            run every step again (results still refresh the cache)",
    "  --runtime NAME        runc, crun, bwrap or chroot for RUN steps (default: the first that",
    "                        works here; without one, a Dockerfile with RUN fails with E_NO_RUNTIME)",
    "  --secret id=ID,src=F  a secret for RUN --mount=type=secret (or env=VAR)",
    "  -q, --quiet           print only the digest",
    "  --explain-cache       after the build, say for each step whether the cache had it and,",
    "                        when not, which input changed since the last build",
    "  --dry-run             print the build plan (stages, steps, cache keys) and run nothing",
    "",
    "SOURCE_DATE_EPOCH in the environment pins every timestamp for reproducible digests.",
  ].join("\n"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "build",
      args,
      {
        file: { type: "string", short: "f" },
        tag: { type: "string", short: "t", multiple: true },
        "build-arg": { type: "string", multiple: true },
        target: { type: "string" },
        platform: { type: "string" },
        output: { type: "string", short: "o", multiple: true },
        "no-cache": { type: "boolean" },
        runtime: { type: "string" },
        secret: { type: "string", multiple: true },
        quiet: { type: "boolean", short: "q" },
        "explain-cache": { type: "boolean" },
        "dry-run": { type: "boolean" },
        json: { type: "boolean" },
      },
      { min: 1, max: 1, names: "one CONTEXT directory" },
    );
    const context = positionals[0] as string;
    const dockerfilePath = typeof values.file === "string" ? values.file : path.join(context, "Dockerfile");
    const target = typeof values.target === "string" ? { target: values.target } : {};
    const platform = typeof values.platform === "string" ? { platform: values.platform } : {};
    if (values["dry-run"]) {
      const plan = await planImageBuild({
        context,
        dockerfile: dockerfilePath,
        buildArgs: buildArgs(values["build-arg"]),
        ...target,
        ...platform,
      });
      io.out(values.json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
      return 0;
    }
    const runtimeName = typeof values.runtime === "string" ? values.runtime : undefined;
    const result = await runBuild({
      context,
      dockerfile: dockerfilePath,
      buildArgs: buildArgs(values["build-arg"]),
      tags: strings(values.tag),
      output: strings(values.output),
      noCache: values["no-cache"] === true,
      secrets: secrets(values.secret),
      runtime: async () =>
        runtimeName !== undefined ? requireRuntime(runtimeName) : detectRuntime().catch(() => undefined),
      ...(values.quiet ? {} : { onProgress: plainProgress((line) => io.err(line)) }),
      ...target,
      ...platform,
    });
    if (values["explain-cache"]) {
      for (const s of result.steps) {
        const stage = s.stageName ?? `stage-${s.stage}`;
        io.err(
          `line ${s.line} [${stage}] ${s.instruction}: ${s.cached ? `hit${s.reason ? ` (${s.reason})` : ""}` : `miss (${s.reason ?? "not cached"})`}`,
        );
      }
    }
    io.out(result.digest);
    return 0;
  },
};
