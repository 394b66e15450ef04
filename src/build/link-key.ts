/**
 * The second cache key of `COPY --link` / `ADD --link` steps. BuildKit copies a linked step
 * into an empty directory and stacks the result on the stage, so the layer depends only on the
 * step's own inputs; this key leaves out the parent chain (base image and earlier steps) and
 * lets a linked layer be reused, as it is, when only those change.
 */
import type { Digest } from "../digest/index.js";
import type { PlanStep } from "../dockerfile/index.js";
import { cacheKeyOf } from "./cache.js";
import { copyDestination } from "./copy-step.js";
import type { Owner } from "./users.js";

/** What a linked step's layer depends on besides the step itself. */
export interface LinkKeyInputs {
  /** The stage's platform (`os/arch[/variant]`). */
  platform: string;
  /** The build's SOURCE_DATE_EPOCH (file times in the layer), if any. */
  epoch: number | undefined;
  /** Digests of image and download sources ({@link PlanStep} does not hold them). */
  extra: Record<string, unknown>;
  /** Cache keys of the stages that `--from` sources name, by stage index. */
  stageKeys: ReadonlyMap<number, string>;
  /** `--chown` as resolved to ids (names are looked up in the stage's /etc/passwd). */
  owner?: Owner;
}

/**
 * The link key of a COPY/ADD step with `--link`, or undefined when the step has no `--link` or
 * one of its sources is not pinned by a digest (then only the chained key is safe).
 *
 * @example
 * ```ts
 * const key = linkCacheKey(step, { platform: "linux/amd64", epoch: 0, extra: {}, stageKeys: new Map() });
 * ```
 */
export function linkCacheKey(step: PlanStep, inputs: LinkKeyInputs): Digest | undefined {
  const ins = step.instruction;
  if ((ins.kind !== "COPY" && ins.kind !== "ADD") || !ins.link) return undefined;
  const sources: unknown[] = [];
  for (const s of step.sources ?? []) {
    if (s.kind === "context" && s.digest === undefined) return undefined;
    if (s.kind === "stage") {
      const stageKey = inputs.stageKeys.get(s.stage);
      if (stageKey === undefined) return undefined;
      sources.push({ ...s, stageKey });
    } else sources.push(s);
  }
  const { source: _source, ...instruction } = ins;
  return cacheKeyOf({
    v: 2,
    link: true,
    platform: inputs.platform,
    instruction,
    sources,
    // The destination as resolved against WORKDIR: a relative one moves with it, an absolute one not.
    dest: copyDestination(ins.dest, step.workingDir),
    owner: inputs.owner,
    epoch: inputs.epoch,
    ...inputs.extra,
  });
}
