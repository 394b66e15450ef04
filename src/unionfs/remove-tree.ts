import fs from "node:fs";
import { rm } from "node:fs/promises";

/**
 * Removes a directory tree, also when it holds read-only directories (a rootless unpack keeps
 * the modes layers ask for, so a 0555 directory cannot be emptied until it is made writable).
 *
 * @example
 * ```ts
 * await removeTree("/var/lib/cairn/snapshots/tmp/1234-ab")
 * ```
 */
export async function removeTree(dir: string | Buffer): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EACCES" && (e as NodeJS.ErrnoException).code !== "EPERM")
      throw e;
  }
  makeWritable(dir);
  await rm(dir, { recursive: true, force: true });
}

// Paths as bytes, so names that are not UTF-8 are reached exactly.
function makeWritable(dir: string | Buffer): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  if ((st.mode & 0o700) !== 0o700) fs.chmodSync(dir, (st.mode & 0o7777) | 0o700);
  const base = Buffer.isBuffer(dir) ? dir : Buffer.from(dir);
  for (const name of fs.readdirSync(dir, { encoding: "buffer" })) {
    makeWritable(Buffer.concat([base, Buffer.from("/"), name]));
  }
}
