/**
 * Resolving an image's `User` (`name`, `uid`, `uid:gid`, `name:group`, ...) to numeric ids with
 * the container's own /etc/passwd and /etc/group, the way runc and Docker do:
 *
 * - an empty user is root (uid 0), with the passwd entry of uid 0 when there is one;
 * - a name must exist in /etc/passwd; a number need not (its gid is then 0);
 * - a group given as a name must exist in /etc/group; a number need not;
 * - supplementary groups are those listing the matched user name as a member, and only when no
 *   group is given (as conversion.md asks; like runc, a numeric uid found in /etc/passwd counts
 *   as a match).
 *
 * The files are read inside the rootfs without following a symlink out of it.
 */
import { CairnError } from "../errors/index.js";
import { readFileInRoot } from "./rootfs-path.js";

/** A user resolved against a rootfs. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** Home directory from /etc/passwd (default `/`), for a default `HOME`. */
  home: string;
  /** The /etc/passwd name that matched, if any. */
  name?: string;
}

/** One /etc/passwd entry. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** One /etc/group entry. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The largest id accepted (Linux ids are 32-bit; runc stops at 2^31-1). */
export const MAX_ID = 2 ** 31 - 1;
const MAX_DB_BYTES = 8 << 20;
const MAX_USER_SPEC = 256;

function parseId(s: string | undefined): number | undefined {
  if (s === undefined || !/^[0-9]{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

function lines(text: string): string[][] {
  return text
    .split("\n")
    .map((l) => l.replace(/\r$/, ""))
    .filter((l) => l.trim() !== "" && !l.startsWith("#") && !l.startsWith("+") && !l.startsWith("-"))
    .map((l) => l.split(":"));
}

/**
 * Parses /etc/passwd text, skipping comments, NIS lines and malformed entries.
 *
 * @example
 * ```ts
 * parsePasswd("root:x:0:0:root:/root:/bin/sh\n")[0] // { name: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/sh" }
 * ```
 */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of lines(text)) {
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    const name = f[0] ?? "";
    if (name === "" || uid === undefined || gid === undefined) continue;
    out.push({ name, uid, gid, home: f[5] ?? "", shell: f[6] ?? "" });
  }
  return out;
}

/**
 * Parses /etc/group text, skipping comments, NIS lines and malformed entries.
 *
 * @example
 * ```ts
 * parseGroup("wheel:x:10:root,app\n")[0] // { name: "wheel", gid: 10, members: ["root", "app"] }
 * ```
 */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of lines(text)) {
    const gid = parseId(f[2]);
    const name = f[0] ?? "";
    if (name === "" || gid === undefined) continue;
    const members = (f[3] ?? "")
      .split(",")
      .map((m) => m.trim())
      .filter((m) => m !== "");
    out.push({ name, gid, members });
  }
  return out;
}

function readDb(rootfs: string, file: string): string | undefined {
  return readFileInRoot(rootfs, file, MAX_DB_BYTES)?.toString("utf8");
}

/**
 * Resolves `user` (as an image config's `User` writes it) against the rootfs's /etc/passwd and
 * /etc/group.
 *
 * @example
 * ```ts
 * resolveUser("/tmp/rootfs", "app")        // { uid: 1000, gid: 1000, additionalGids: [50], home: "/home/app", name: "app" }
 * resolveUser("/tmp/rootfs", "1234:5678")  // { uid: 1234, gid: 5678, additionalGids: [], home: "/" }
 * ```
 * @throws CairnError `E_NOT_FOUND` for an unknown user or group name, `E_USAGE` for a malformed
 * spec or an id out of range
 */
export function resolveUser(rootfs: string, user: string | undefined): ResolvedUser {
  const spec = user ?? "";
  if (spec.length > MAX_USER_SPEC || /[\0\n\r]/.test(spec))
    throw new CairnError(
      "E_USAGE",
      `invalid user ${JSON.stringify(spec.slice(0, 64))}: expected user[:group]`,
    );
  const colon = spec.indexOf(":");
  const userArg = colon < 0 ? spec : spec.slice(0, colon);
  const groupArg = colon < 0 ? "" : spec.slice(colon + 1);
  const uidArg = /^[0-9]+$/.test(userArg) ? parseId(userArg) : undefined;
  if (/^[0-9]+$/.test(userArg) && uidArg === undefined)
    throw new CairnError("E_USAGE", `uid ${userArg} is out of range (0..${MAX_ID})`);
  const gidArg = /^[0-9]+$/.test(groupArg) ? parseId(groupArg) : undefined;
  if (/^[0-9]+$/.test(groupArg) && gidArg === undefined)
    throw new CairnError("E_USAGE", `gid ${groupArg} is out of range (0..${MAX_ID})`);

  const result: ResolvedUser = { uid: 0, gid: 0, additionalGids: [], home: "/" };
  const passwdText = readDb(rootfs, "/etc/passwd");
  const entries = passwdText === undefined ? [] : parsePasswd(passwdText);
  const match = entries.find((u) =>
    userArg === "" ? u.uid === 0 : uidArg !== undefined ? u.uid === uidArg : u.name === userArg,
  );
  if (match) {
    result.uid = match.uid;
    result.gid = match.gid;
    result.home = match.home || "/";
    result.name = match.name;
  } else if (userArg !== "") {
    if (uidArg === undefined)
      throw new CairnError(
        "E_NOT_FOUND",
        `user ${JSON.stringify(userArg)} not found in /etc/passwd of ${rootfs}` +
          (passwdText === undefined ? " (the file does not exist)" : ""),
        { details: { user: userArg, rootfs } },
      );
    result.uid = uidArg;
  }

  if (groupArg === "" && !match) return result;
  const groupText = readDb(rootfs, "/etc/group");
  const groups = groupText === undefined ? [] : parseGroup(groupText);
  if (groupArg !== "") {
    const g = groups.find((x) => (gidArg !== undefined ? x.gid === gidArg : x.name === groupArg));
    if (g) result.gid = g.gid;
    else if (gidArg !== undefined) result.gid = gidArg;
    else
      throw new CairnError(
        "E_NOT_FOUND",
        `group ${JSON.stringify(groupArg)} not found in /etc/group of ${rootfs}` +
          (groupText === undefined ? " (the file does not exist)" : ""),
        { details: { group: groupArg, rootfs } },
      );
    return result;
  }
  const name = match?.name as string;
  const seen = new Set<number>();
  for (const g of groups) {
    if (g.members.includes(name) && !seen.has(g.gid)) {
      seen.add(g.gid);
      result.additionalGids.push(g.gid);
    }
  }
  return result;
}
