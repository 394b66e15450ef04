/**
 * `--chmod` values: octal (`755`) or symbolic (`u=rwx,go=rx`, `a+x`, `g-w`), applied to each
 * copied file and directory as chmod(1) would.
 */
import { CairnError } from "../errors/index.js";

/** A parsed `--chmod`: gives the new mode of an entry from its old mode and type. */
export type ModeChange = (mode: number, isDirectory: boolean) => number;

const WHO: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };

function permBits(perms: string, mode: number, isDirectory: boolean): number {
  let bits = 0;
  for (const p of perms) {
    if (p === "r") bits |= 0o444;
    else if (p === "w") bits |= 0o222;
    else if (p === "x") bits |= 0o111;
    else if (p === "X") {
      if (isDirectory || (mode & 0o111) !== 0) bits |= 0o111;
    } else if (p === "s") bits |= 0o6000;
    else if (p === "t") bits |= 0o1000;
  }
  return bits;
}

/**
 * Parses a `--chmod` value.
 *
 * @example
 * ```ts
 * parseModeChange("755")(0o600, false) // 0o755
 * parseModeChange("u+x,go-w")(0o664, false) // 0o744
 * ```
 * @throws CairnError `E_USAGE` for anything else
 */
export function parseModeChange(spec: string): ModeChange {
  if (/^[0-7]{1,4}$/.test(spec)) {
    const mode = Number.parseInt(spec, 8);
    return () => mode;
  }
  const clauses = spec.split(",");
  const parsed = clauses.map((clause) => {
    const m = /^([ugoa]*)([-+=])([rwxXst]*)$/.exec(clause);
    if (!m) {
      throw new CairnError("E_USAGE", `invalid --chmod ${JSON.stringify(spec)}`, {
        details: { expected: 'an octal mode such as "755" or a symbolic one such as "u=rwx,go=rx"' },
      });
    }
    const who = (m[1] as string) === "" ? "a" : (m[1] as string);
    let mask = 0;
    for (const w of who) mask |= WHO[w] ?? 0;
    return { mask, op: m[2] as string, perms: m[3] as string };
  });
  return (mode, isDirectory) => {
    let out = mode & 0o7777;
    for (const c of parsed) {
      const bits = permBits(c.perms, out, isDirectory) & c.mask;
      if (c.op === "+") out |= bits;
      else if (c.op === "-") out &= ~bits;
      else out = (out & ~c.mask) | bits;
    }
    return out;
  };
}
