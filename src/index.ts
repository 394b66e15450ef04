/**
 * cairn: OCI images and union filesystems in TypeScript. Each module is also its own entry
 * (`cairn-oci/digest`, `cairn-oci/manifest`, ...); this root re-exports them all.
 */
export * from "./build/index.js";
export * from "./content/index.js";
export * from "./digest/index.js";
export * from "./dockerfile/index.js";
export * from "./errors/index.js";
export * from "./image/index.js";
export * from "./layer/index.js";
export * from "./manifest/index.js";
export * from "./reference/index.js";
export * from "./registry/index.js";
export * from "./runtime/index.js";
export * from "./unionfs/index.js";
