/**
 * User and group names resolved to ids the way BuildKit's file operations do: against the
 * destination root's /etc/passwd and /etc/group. A numeric user alone also gives the group
 * (uid = gid); a user name gives its primary group.
 */
import { CairnError } from "../errors/index.js";

/** An owner for new files. */
export interface Owner {
  uid: number;
  gid: number;
}

/** Reads files of the destination root (undefined when absent). */
export type ReadRootFile = (path: string) => Promise<string | undefined>;

const ID = /^[0-9]+$/;
const MAX_ID = 0xffffffff;

function parseId(text: string, what: string, spec: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n > MAX_ID) {
    throw new CairnError("E_USAGE", `${what} ${text} in ${JSON.stringify(spec)} is out of range`, {
      details: { expected: `an id from 0 to ${MAX_ID}` },
    });
  }
  return n;
}

function findLine(text: string | undefined, name: string): string[] | undefined {
  if (text === undefined) return undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const fields = line.split(":");
    if (fields[0] === name) return fields;
  }
  return undefined;
}

/**
 * Resolves `user[:group]` (names or numbers) to ids, reading /etc/passwd and /etc/group only when
 * a name needs them.
 *
 * @example
 * ```ts
 * await resolveOwner("app:staff", readFile) // { uid: 1000, gid: 50 }
 * await resolveOwner("10", readFile)        // { uid: 10, gid: 10 }
 * ```
 * @throws CairnError `E_NOT_FOUND` for a name the files do not list
 */
export async function resolveOwner(spec: string, read: ReadRootFile): Promise<Owner> {
  const colon = spec.indexOf(":");
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? undefined : spec.slice(colon + 1);
  if (userPart === "") throw new CairnError("E_USAGE", `invalid user ${JSON.stringify(spec)}: empty user`);
  let uid: number;
  let gid: number;
  if (ID.test(userPart)) {
    uid = parseId(userPart, "uid", spec);
    gid = uid;
  } else {
    const fields = findLine(await read("etc/passwd"), userPart);
    if (!fields || !ID.test(fields[2] ?? "") || !ID.test(fields[3] ?? "")) {
      throw new CairnError(
        "E_NOT_FOUND",
        `unable to find user ${userPart}: no matching entries in passwd file`,
        { details: { expected: `a user named ${userPart} in /etc/passwd, or a numeric uid` } },
      );
    }
    uid = parseId(fields[2] as string, "uid", spec);
    gid = parseId(fields[3] as string, "gid", spec);
  }
  if (groupPart !== undefined && groupPart !== "") {
    if (ID.test(groupPart)) gid = parseId(groupPart, "gid", spec);
    else {
      const fields = findLine(await read("etc/group"), groupPart);
      if (!fields || !ID.test(fields[2] ?? "")) {
        throw new CairnError(
          "E_NOT_FOUND",
          `unable to find group ${groupPart}: no matching entries in group file`,
          { details: { expected: `a group named ${groupPart} in /etc/group, or a numeric gid` } },
        );
      }
      gid = parseId(fields[2] as string, "gid", spec);
    }
  }
  return { uid, gid };
}
