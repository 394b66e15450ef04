import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The external conformance data directory: `CAIRN_CONFORMANCE_DIR`, else `../shared/conformance`. */
export function conformanceDir(sub = ""): string {
  const base = process.env.CAIRN_CONFORMANCE_DIR ?? path.resolve(repoRoot, "../shared/conformance");
  const dir = path.join(base, sub);
  if (!existsSync(dir)) {
    throw new Error(
      `conformance data not found at ${dir}: set CAIRN_CONFORMANCE_DIR to the shared/conformance directory`,
    );
  }
  return dir;
}
