/** Dockerfile errors: one code, `E_DOCKERFILE_SYNTAX`, with the line and column in message and details. */
import { CairnError, type CairnErrorCode } from "../errors/index.js";

/** Where in the Dockerfile something is: 1-based line and column, and the last line it spans. */
export interface SourceLocation {
  line: number;
  column?: number;
  endLine?: number;
}

/** What a Dockerfile error says besides the problem: what was expected and what was found. */
export interface DockerfileErrorHint {
  expected?: string;
  found?: string;
  cause?: unknown;
  code?: CairnErrorCode;
}

/**
 * A `CairnError` (`E_DOCKERFILE_SYNTAX` unless `hint.code` says otherwise) whose message starts
 * with `Dockerfile line L, column C:`.
 */
export function dockerfileError(
  problem: string,
  location: SourceLocation,
  hint: DockerfileErrorHint = {},
): CairnError {
  const column = location.column ?? 1;
  let message = `Dockerfile line ${location.line}, column ${column}: ${problem}`;
  if (hint.expected !== undefined) message += `; expected ${hint.expected}`;
  if (hint.found !== undefined) message += `${hint.expected === undefined ? ";" : ","} found ${hint.found}`;
  const details: Record<string, unknown> = {
    line: location.line,
    column,
    endLine: location.endLine ?? location.line,
  };
  if (hint.expected !== undefined) details.expected = hint.expected;
  return new CairnError(hint.code ?? "E_DOCKERFILE_SYNTAX", message, {
    details,
    cause: hint.cause,
  });
}

/** Quotes a found value for a message, shortening very long ones. */
export function shown(value: string, max = 80): string {
  const s = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(s);
}
