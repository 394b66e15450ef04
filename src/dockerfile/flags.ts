/** Instruction flags (`--from=…`, `--link`, `--mount=…`): which are accepted and their values. */

/** How a flag takes its value. */
export type FlagKind = "string" | "bool" | "strings";

/** The flags an instruction accepts: name to kind. */
export type FlagSpec = Readonly<Record<string, FlagKind>>;

/** Parsed flag values: strings, `true`/`false` for booleans, arrays for repeatable flags. */
export type FlagValues = Record<string, string | boolean | string[]>;

/** A flag problem; the caller adds the instruction and location. */
export class FlagError extends Error {
  constructor(
    message: string,
    readonly flag: string,
    readonly expected: string,
  ) {
    super(message);
  }
}

function closest(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestScore) {
      bestScore = d;
      best = c;
    }
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}

/**
 * Parses `--name[=value]` words against `spec`, as BuildKit's BFlags does: unknown flags, a
 * repeated non-repeatable flag, a string flag without `=value` and a non-boolean value for a
 * boolean flag are errors.
 *
 * @example
 * ```ts
 * parseFlags(["--from=build", "--link"], { from: "string", link: "bool" }) // { from: "build", link: true }
 * ```
 */
export function parseFlags(words: readonly string[], spec: FlagSpec, instruction: string): FlagValues {
  const values: FlagValues = {};
  const names = Object.keys(spec);
  const accepted = names.length === 0 ? "no flags" : names.map((n) => `--${n}`).join(", ");
  for (const word of words) {
    if (!word.startsWith("--")) {
      throw new FlagError(`arg should start with -- : ${word}`, word, "a flag of the form --name=value");
    }
    if (word === "--") break;
    const eq = word.indexOf("=");
    const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
    const value = eq < 0 ? undefined : word.slice(eq + 1);
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (kind === undefined) {
      const guess = closest(name, names);
      throw new FlagError(
        `unknown flag: ${name}${guess ? ` (did you mean ${guess}?)` : ""}`,
        word,
        `${instruction} to take ${accepted}`,
      );
    }
    if (Object.hasOwn(values, name) && kind !== "strings") {
      throw new FlagError(`duplicate flag specified: ${name}`, word, `--${name} at most once`);
    }
    if (kind === "bool") {
      if (value === "")
        throw new FlagError(`missing a value on flag: ${name}`, word, `--${name}[=true|false]`);
      const v = (value ?? "true").toLowerCase();
      if (v !== "true" && v !== "false") {
        throw new FlagError(
          `expecting boolean value for flag ${name}, not: ${value}`,
          word,
          `--${name}[=true|false]`,
        );
      }
      values[name] = v === "true";
    } else if (value === undefined) {
      throw new FlagError(`missing a value on flag: ${name}`, word, `--${name}=<value>`);
    } else if (kind === "strings") {
      const list = (values[name] as string[] | undefined) ?? [];
      list.push(value);
      values[name] = list;
    } else {
      values[name] = value;
    }
  }
  return values;
}
