/**
 * A COPY or ADD step of a plan turned into layer entries: each planned source given its tree
 * (context, stage, image, heredocs, a download, an unpacked archive), `--parents` pivots found,
 * the destination taken relative to WORKDIR, `--chown` names resolved in the stage's root.
 */
import path from "node:path";
import {
  type AddInstruction,
  type CopyInstruction,
  createIgnoreMatcher,
  type PlanSource,
  type PlanStep,
} from "../dockerfile/index.js";
import type { LayerEntry } from "../layer/index.js";
import { archiveKind, unpackArchive } from "./add-remote.js";
import { parseModeChange } from "./chmod.js";
import { ContextTree, InlineTree } from "./context-tree.js";
import { type CopySource, copyToLayer } from "./copy.js";
import { resolveInTree, type SourceTree } from "./tree.js";
import { resolveOwner } from "./users.js";

/** What a COPY/ADD step needs from the build around it. */
export interface CopyStepContext {
  /** The tree a planned source reads from (heredoc sources read from `inline`). */
  sourceTree(source: PlanSource, inline: InlineTree): Promise<SourceTree>;
  /** Trees of sources already fetched (ADD URLs), by source index. */
  fetched: ReadonlyMap<number, SourceTree>;
  /** The stage's root before the step; undefined for an empty one. */
  destTree(): Promise<SourceTree | undefined>;
  /** Reads /etc/passwd and /etc/group of the stage's root. */
  readRootFile(rel: string): Promise<string | undefined>;
  /** A new scratch directory for unpacked archives. */
  scratch(what: string): Promise<string>;
  /** Modification time of files from the context, heredocs and new directories. */
  mtime: number;
}

function pivotOf(written: string): string {
  const at = written.indexOf("/./");
  if (at < 0) return "";
  return written
    .slice(0, at)
    .replace(/^\/+/, "")
    .replace(/^\.\/?/, "");
}

/** ADD: context files that are tar archives are unpacked instead of copied. */
async function addSources(
  tree: ContextTree,
  matched: readonly string[],
  ctx: CopyStepContext,
): Promise<CopySource[]> {
  const out: CopySource[] = [];
  for (const m of matched) {
    const match = m === "." ? "" : m;
    const resolved = resolveInTree(tree, match, true);
    if (tree.lstat(resolved)?.type === "file") {
      const kind = await archiveKind(tree.hostPath(resolved));
      if (kind !== undefined) {
        const unpacked = await unpackArchive(tree.hostPath(resolved), kind, await ctx.scratch("unpack"));
        out.push({ tree: unpacked, path: "", matched: [""] });
        continue;
      }
    }
    out.push({ tree, path: match, matched: [match] });
  }
  return out;
}

/** The destination of a step, absolute (a trailing `/` kept: it means a directory). */
export function copyDestination(dest: string, workingDir: string): string {
  if (dest.startsWith("/")) return dest;
  const slash = dest.endsWith("/") || dest === "." || dest.endsWith("/.");
  return path.posix.join(workingDir, dest) + (slash ? "/" : "");
}

/**
 * The layer entries a planned COPY or ADD step writes.
 *
 * @example
 * ```ts
 * const entries = await copyStepEntries(step, step.instruction as CopyInstruction, ctx);
 * ```
 * @throws CairnError `E_BUILD_FAILED` (missing source, conflicting destination), `E_NOT_FOUND` (unknown `--chown` name)
 */
export async function copyStepEntries(
  step: PlanStep,
  ins: CopyInstruction | AddInstruction,
  ctx: CopyStepContext,
): Promise<LayerEntry[]> {
  const inline = new InlineTree(
    "heredoc",
    ins.contents.map((c) => ({ name: c.name, data: c.data })),
    ctx.mtime,
  );
  const parents = ins.kind === "COPY" && ins.parents;
  const sources: CopySource[] = [];
  for (const [i, s] of (step.sources ?? []).entries()) {
    const fetched = ctx.fetched.get(i);
    if (fetched) {
      sources.push({ tree: fetched, path: fetched.list("")[0] ?? "" });
      continue;
    }
    const tree = await ctx.sourceTree(s, inline);
    if (s.kind === "context" && ins.kind === "ADD" && ins.unpack !== false && tree instanceof ContextTree) {
      sources.push(...(await addSources(tree, s.matched ?? [s.path], ctx)));
      continue;
    }
    const written = s.kind === "inline" ? s.name : "path" in s ? s.path : "";
    const source: CopySource = { tree, path: written };
    if (s.kind === "context" && s.matched) source.matched = s.matched.map((m) => (m === "." ? "" : m));
    const pivot = parents ? pivotOf(written) : "";
    if (pivot !== "") source.pivot = pivot;
    sources.push(source);
  }
  const destTree = ins.link ? undefined : await ctx.destTree();
  const owner =
    ins.chown !== undefined ? await resolveOwner(ins.chown, (p) => ctx.readRootFile(p)) : undefined;
  const { entries } = copyToLayer(sources, {
    dest: copyDestination(ins.dest, step.workingDir),
    mtime: ctx.mtime,
    what: ins.kind,
    parents,
    excludes: ins.exclude.map((p) => createIgnoreMatcher([p])),
    ...(destTree ? { destTree } : {}),
    ...(owner ? { owner } : {}),
    ...(ins.chmod !== undefined ? { chmod: parseModeChange(ins.chmod) } : {}),
  });
  return entries;
}
