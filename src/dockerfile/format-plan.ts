/** A human-readable rendering of a {@link BuildPlan}, for `cairn build --dry-run`. */
import type { BuildPlan, PlanBase, PlanSource, PlanStep } from "./plan.js";

function baseText(base: PlanBase): string {
  switch (base.kind) {
    case "scratch":
      return "scratch";
    case "stage":
      return `stage ${base.stageName ?? base.stage}`;
    default:
      return base.digest ? `${base.reference}@${base.digest}` : base.reference;
  }
}

function sourceText(s: PlanSource): string {
  switch (s.kind) {
    case "context":
      return s.digest ? `${s.path} (${s.entries} entries, ${s.digest.slice(0, 19)})` : s.path;
    case "stage":
      return `stage ${s.stageName ?? s.stage}:${s.path}`;
    case "image":
      return `image ${s.image}:${s.path}`;
    case "url":
      return s.url;
    case "git":
      return `git ${s.url}`;
    default:
      return `<<${s.name} (${s.size} bytes)`;
  }
}

function stepText(step: PlanStep): string {
  const ins = step.instruction;
  const lines = `${ins.source.startLine === ins.source.endLine ? ins.source.startLine : `${ins.source.startLine}-${ins.source.endLine}`}`;
  let text = ins.source.original.trim();
  if (text.length > 100) text = `${text.slice(0, 97)}...`;
  let out = `    ${String(step.index + 1).padStart(2)}. [line ${lines}] ${text}\n`;
  if (step.argv) out += `        argv: ${JSON.stringify(step.argv)}\n`;
  if (step.sources && step.sources.length > 0)
    out += `        sources: ${step.sources.map(sourceText).join(", ")}\n`;
  out += `        key: ${step.cacheKey.slice(0, 19)}\n`;
  return out;
}

/**
 * Formats a plan as text: target, platforms, global ARGs, then each needed stage with its base,
 * dependencies and steps (line numbers, argv, sources, short cache keys).
 *
 * @example
 * ```ts
 * console.log(formatPlan(await planBuild({ dockerfile: "FROM alpine\nRUN true\n" })));
 * ```
 */
export function formatPlan(plan: BuildPlan): string {
  let out = `target: ${plan.target.name ?? `stage ${plan.target.stage}`}\n`;
  out += `platform: ${plan.platform} (build platform ${plan.buildPlatform})\n`;
  const globals = Object.entries(plan.globalArgs);
  if (globals.length > 0) out += `global args: ${globals.map(([k, v]) => `${k}=${v}`).join(" ")}\n`;
  if (plan.dockerignore.patterns.length > 0) {
    out += `.dockerignore${plan.dockerignore.file ? ` (${plan.dockerignore.file})` : ""}: ${plan.dockerignore.patterns.length} patterns\n`;
  }
  for (const stage of plan.stages) {
    out += `\nstage ${stage.index}${stage.name ? ` (${stage.name})` : ""}: FROM ${baseText(stage.base)} [${stage.platform}]\n`;
    const deps = stage.dependsOn.map(
      (d) => `${d.via} ${d.stage !== undefined ? `stage ${d.stage}` : d.image} (line ${d.line})`,
    );
    if (deps.length > 0) out += `  depends on: ${deps.join(", ")}\n`;
    for (const step of stage.steps) out += stepText(step);
    out += `  result: ${stage.cacheKey}\n`;
  }
  if (plan.skippedStages.length > 0) {
    out += `\nskipped stages: ${plan.skippedStages.map((s) => s.name ?? String(s.index)).join(", ")}\n`;
  }
  if (plan.unusedBuildArgs.length > 0) out += `unused build args: ${plan.unusedBuildArgs.join(", ")}\n`;
  for (const w of plan.warnings)
    out += `warning${w.line !== undefined ? ` (line ${w.line})` : ""}: ${w.message}\n`;
  return out;
}
