import { createRequire } from "node:module";
import { sha256 as nobleSha256, sha512 as nobleSha512 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import type { DigestAlgorithm } from "./digest.js";

/** An incremental hash: feed bytes with `update`, read the lowercase hex with `hex` once. */
export interface Hasher {
  update(chunk: Uint8Array): void;
  hex(): string;
}

type NodeCrypto = typeof import("node:crypto");

function loadNodeCrypto(): NodeCrypto | undefined {
  try {
    const require = createRequire(import.meta.url);
    return require("node:crypto") as NodeCrypto;
  } catch {
    return undefined;
  }
}

// node:crypto hashes ~12x faster than @noble/hashes here (see docs/DEPENDENCIES.md);
// the pure-JS path exists for runtimes without node:crypto.
const nodeCrypto = loadNodeCrypto();

/** Creates a {@link Hasher} for `algorithm`, backed by `node:crypto` where present, else `@noble/hashes`. */
export function createHasher(algorithm: DigestAlgorithm, backend: "auto" | "noble" = "auto"): Hasher {
  if (backend === "auto" && nodeCrypto) {
    const h = nodeCrypto.createHash(algorithm);
    return {
      update: (chunk) => {
        h.update(chunk);
      },
      hex: () => h.digest("hex"),
    };
  }
  const h = (algorithm === "sha256" ? nobleSha256 : nobleSha512).create();
  return {
    update: (chunk) => {
      h.update(chunk);
    },
    hex: () => bytesToHex(h.digest()),
  };
}

/**
 * The lowercase hex hash of `bytes` in one call. Uses node:crypto's one-shot `hash` where it
 * exists (Node 20.12+), which allocates no hash object: tens of thousands of small hashes
 * otherwise leave as many native contexts waiting for the garbage collector.
 *
 * @example
 * ```ts
 * hashHex("sha256", new Uint8Array()) // "e3b0c442…"
 * ```
 */
export function hashHex(algorithm: DigestAlgorithm, bytes: Uint8Array): string {
  const oneShot = nodeCrypto?.hash;
  if (oneShot) return oneShot(algorithm, bytes, "hex");
  const h = createHasher(algorithm);
  h.update(bytes);
  return h.hex();
}
