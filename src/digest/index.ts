export {
  type Digest,
  type DigestAlgorithm,
  type ParsedDigest,
  digestAlgorithm,
  digestHex,
  formatDigest,
  isDigest,
  isDigestAlgorithm,
  isDigestSyntax,
  parseDigest,
} from "./digest.js";
export {
  type Hashable,
  type VerifyExpectation,
  digestBytes,
  digestOf,
  VerifyingStream,
  verifyBytes,
  verifyChunks,
} from "./hash.js";
export { type Hasher, createHasher } from "./hasher.js";
