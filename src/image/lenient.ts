import type { ParseOptions } from "../manifest/index.js";

/**
 * How the image model parses what it reads: OCI manifests with no layers are accepted (umoci and
 * `FROM scratch` builds write them), although the image-spec schema asks for at least one.
 */
export const LENIENT: ParseOptions = { allowEmptyLayers: true };
