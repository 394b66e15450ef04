/**
 * Chain IDs, as the image spec's config.md defines them: the identity of a stack of layers.
 * ChainID(L0) = DiffID(L0); ChainID(L0|…|Ln) = sha256(ChainID(L0|…|Ln-1) + " " + DiffID(Ln)).
 */
import { type Digest, digestBytes, parseDigest } from "../digest/index.js";
import { CairnError } from "../errors/index.js";

/**
 * The chain ID of every prefix of a layer stack: element `i` identifies layers `0..i`.
 *
 * @example
 * ```ts
 * const ids = chainIds((await image.config()).rootfs.diff_ids); // ids.at(-1) is the image's
 * ```
 * @throws CairnError `E_DIGEST_INVALID` for a diff ID that is not a digest
 */
export function chainIds(diffIds: readonly string[]): Digest[] {
  const out: Digest[] = [];
  let prev: Digest | undefined;
  for (const diffId of diffIds) {
    parseDigest(diffId);
    const d = diffId as Digest;
    prev = prev === undefined ? d : digestBytes(`${prev} ${d}`);
    out.push(prev);
  }
  return out;
}

/**
 * The chain ID of a whole layer stack (the top of {@link chainIds}).
 *
 * @example
 * ```ts
 * chainId(["sha256:aa…"]) // "sha256:aa…": one layer's chain ID is its diff ID
 * ```
 * @throws CairnError `E_USAGE` for an empty list; `E_DIGEST_INVALID` for a bad diff ID
 */
export function chainId(diffIds: readonly string[]): Digest {
  const ids = chainIds(diffIds);
  const top = ids[ids.length - 1];
  if (top === undefined) throw new CairnError("E_USAGE", "chainId needs at least one diff ID, found none");
  return top;
}
