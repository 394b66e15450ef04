export {
  type Digest,
  type DigestAlgorithm,
  digestAlgorithm,
  digestHex,
  formatDigest,
  isDigest,
  isDigestAlgorithm,
  isDigestSyntax,
  type ParsedDigest,
  parseDigest,
} from "./digest.js";
export {
  digestBytes,
  digestOf,
  type Hashable,
  sizeCheckedChunks,
  type VerifyExpectation,
  VerifyingStream,
  verifyBytes,
  verifyChunks,
} from "./hash.js";
export { createHasher, type Hasher } from "./hasher.js";
