/**
 * Why a step missed the cache: each build records the inputs of its steps (per Dockerfile,
 * target and platform), and the next build compares a missed step's inputs with that record.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { PlanSource, PlanStep } from "../dockerfile/index.js";
import { cacheKeyOf } from "./cache.js";

/** What a step's result depends on, as recorded for explanations. */
export interface StepInputs {
  stage: number;
  step: number;
  key: string;
  inputs: Record<string, unknown>;
}

/** The inputs of a step worth naming when they change. *
 * @example
 * ```ts
 * const inputs = stepInputs(step, {}, undefined);
 * ```
 */
export function stepInputs(
  step: PlanStep,
  extra: Record<string, unknown>,
  epoch: number | undefined,
  args?: Record<string, string | undefined>,
): Record<string, unknown> {
  const { source: _s, ...instruction } = step.instruction;
  return {
    args,
    parent: step.parent,
    instruction,
    sources: step.sources,
    environment: step.environment,
    workingDir: step.workingDir,
    user: step.user,
    extra,
    epoch,
  };
}

function sourceName(s: PlanSource): string {
  switch (s.kind) {
    case "context":
    case "stage":
    case "image":
      return s.path;
    case "url":
    case "git":
      return s.url;
    case "inline":
      return `<<${s.name}`;
  }
}

function same(a: unknown, b: unknown): boolean {
  return cacheKeyOf(a ?? null) === cacheKeyOf(b ?? null);
}

/**
 * Says which input of a step changed since the recorded build.
 *
 * @example
 * ```ts
 * explainMiss(now, before) // "source app/ changed"
 * ```
 */
export function explainMiss(
  now: Record<string, unknown>,
  before: Record<string, unknown> | undefined,
): string {
  if (!before) return "not built before";
  const changed = Object.keys({ ...now, ...before }).filter((k) => !same(now[k], before[k]));
  if (changed.length === 0) return "its result is no longer in the cache";
  const reasons: string[] = [];
  for (const k of changed) {
    if (k === "parent") continue;
    if (k === "sources") {
      const a = (now.sources as PlanSource[] | undefined) ?? [];
      const b = (before.sources as PlanSource[] | undefined) ?? [];
      const names = a.filter((s, i) => !same(s, b[i])).map(sourceName);
      reasons.push(names.length > 0 ? `source ${names.join(", ")} changed` : "sources changed");
    } else if (k === "environment") {
      const a = (now.environment as Record<string, string> | undefined) ?? {};
      const b = (before.environment as Record<string, string> | undefined) ?? {};
      const keys = Object.keys({ ...a, ...b }).filter((x) => a[x] !== b[x]);
      reasons.push(`environment ${keys.join(", ")} changed`);
    } else if (k === "args") {
      const a = (now.args as Record<string, string> | undefined) ?? {};
      const b = (before.args as Record<string, string> | undefined) ?? {};
      const keys = Object.keys({ ...a, ...b }).filter((x) => a[x] !== b[x]);
      reasons.push(`build arg ${keys.join(", ")} changed`);
    } else if (k === "instruction") reasons.push("the instruction changed");
    else if (k === "extra") reasons.push("a downloaded or external input changed");
    else if (k === "epoch") reasons.push("SOURCE_DATE_EPOCH changed");
    else reasons.push(`${k} changed`);
  }
  if (reasons.length === 0) return "an earlier step changed";
  return reasons.join("; ");
}

/** Reads and writes the step-input record of one Dockerfile/target/platform. *
 * @example
 * ```ts
 * const record = new ExplainRecord(dir, { context, dockerfile: "Dockerfile" });
 * const previous = await record.load();
 * ```
 */
export class ExplainRecord {
  private readonly file: string;
  constructor(dir: string, identity: unknown) {
    this.file = path.join(dir, `${cacheKeyOf(identity).replace(":", "-")}.json`);
  }

  async load(): Promise<StepInputs[]> {
    try {
      const parsed = JSON.parse(await readFile(this.file, "utf8")) as unknown;
      return Array.isArray(parsed) ? (parsed as StepInputs[]) : [];
    } catch {
      return [];
    }
  }

  async save(steps: StepInputs[]): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    await writeFile(this.file, JSON.stringify(steps));
  }
}
