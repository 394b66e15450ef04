/** BuildKit's parser-test dump format (`(keyword ["--flag"] "arg" …)`), for conformance checks. */
import type { DockerfileAst, Instruction } from "./ast.js";
import { goQuote, goToLower, goTrimSpace } from "./go-text.js";

function dumpInstruction(ins: Instruction): string {
  let s = goToLower(ins.rawKeyword);
  if (ins.flags.length > 0) s += ` [${ins.flags.map(goQuote).join(" ")}]`;
  if (ins.trigger) s += ` (${dumpInstruction(ins.trigger)})`;
  for (const arg of ins.args) s += ` ${goQuote(arg)}`;
  return goTrimSpace(s);
}

/**
 * Renders the AST in the `result` format of BuildKit's parser tests: one
 * `(keyword ["--flag" …] "arg" …)` line per instruction, keyword lower-cased, arguments quoted
 * like Go's `strconv.Quote`, heredoc bodies left out.
 *
 * @example
 * ```ts
 * formatBuildkitDump(parseDockerfile("FROM alpine\nENV a=1 b=2\n"))
 * // '(from "alpine")\n(env "a" "1" "=" "b" "2" "=")\n'
 * ```
 */
export function formatBuildkitDump(ast: DockerfileAst): string {
  return `${goTrimSpace(ast.instructions.map((ins) => `(${dumpInstruction(ins)})\n`).join(""))}\n`;
}
