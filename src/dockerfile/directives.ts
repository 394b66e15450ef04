/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`) and the escape token they set,
 * including line continuation with that token.
 */
import type { Directive } from "./ast.js";

const DIRECTIVE_SPACE = new Set(["\t", "\n", "\f", "\r", " "]);
const KNOWN = new Set(["syntax", "escape", "check"]);

/** A directive problem; the parser adds the location. */
export class DirectiveError extends Error {
  constructor(
    message: string,
    readonly expected: string,
  ) {
    super(message);
  }
}

/** Reads `#name=value` (any spacing); undefined when the line is not of that form. */
export function matchDirective(line: string): { name: string; value: string } | undefined {
  if (line[0] !== "#") return undefined;
  let i = 1;
  while (i < line.length && DIRECTIVE_SPACE.has(line[i] as string)) i++;
  const nameStart = i;
  if (!/[a-zA-Z]/.test(line[i] ?? "")) return undefined;
  while (i < line.length && /[a-zA-Z0-9]/.test(line[i] as string)) i++;
  const name = line.slice(nameStart, i);
  while (i < line.length && DIRECTIVE_SPACE.has(line[i] as string)) i++;
  if (line[i] !== "=") return undefined;
  i++;
  const spaceStart = i;
  while (i < line.length && DIRECTIVE_SPACE.has(line[i] as string)) i++;
  let end = line.length;
  while (end > i && DIRECTIVE_SPACE.has(line[end - 1] as string)) end--;
  if (end > i) return { name, value: line.slice(i, end) };
  // Only blanks after "=": the pattern's lazy value takes the last blank.
  if (i > spaceStart) return { name, value: line[i - 1] as string };
  return undefined;
}

/** Tracks directives while the parser reads the top of the file. */
export class DirectiveState {
  escapeToken: string;
  readonly directives: Directive[] = [];
  private done = false;
  private readonly seen = new Set<string>();

  constructor(escapeToken = "\\") {
    this.escapeToken = escapeToken;
  }

  /**
   * Looks at a (left-trimmed) physical line; true when it was a directive. The first line that
   * is not a directive ends directive scanning for good.
   */
  scan(line: string, lineNumber: number): boolean {
    if (this.done) return false;
    const m = matchDirective(line);
    const name = m?.name.toLowerCase();
    if (!m || name === undefined || !KNOWN.has(name)) {
      this.done = true;
      return false;
    }
    if (this.seen.has(name)) {
      throw new DirectiveError(`only one ${name} parser directive can be used`, `a single "# ${name}=" line`);
    }
    this.seen.add(name);
    if (name === "escape") {
      if (m.value !== "`" && m.value !== "\\") {
        throw new DirectiveError(
          `invalid escape token '${m.value}' does not match \` or \\`,
          'the escape directive to be "`" or "\\"',
        );
      }
      this.escapeToken = m.value;
    }
    this.directives.push({ name: name as Directive["name"], value: m.value, line: lineNumber });
    return true;
  }
}

/**
 * Removes a line-continuation escape (and the blanks after it) from the end of `line`. An escape
 * preceded by another escape is an escaped escape, not a continuation.
 *
 * @example
 * ```ts
 * trimContinuation("RUN a \\  ", "\\") // { line: "RUN a ", continued: true }
 * ```
 */
export function trimContinuation(line: string, escapeToken: string): { line: string; continued: boolean } {
  let end = line.length;
  while (end > 0 && (line[end - 1] === " " || line[end - 1] === "\t")) end--;
  if (end === 0 || line[end - 1] !== escapeToken) return { line, continued: false };
  if (end === 1) return { line: "", continued: true };
  if (line[end - 2] === escapeToken) return { line, continued: false };
  return { line: line.slice(0, end - 1), continued: true };
}
