/**
 * Here-documents: finding `<<EOF`, `<<-EOF`, `<<'EOF'`, `3<<EOF` words on a RUN/COPY/ADD line
 * and deciding whether their bodies are expanded.
 */
import { isCairnError } from "../errors/index.js";
import type { Heredoc } from "./ast.js";
import { ShellLexer } from "./expand.js";

const HEREDOC_WORD = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
const EMPTY_ENV: readonly string[] = [];

/** A heredoc header: a {@link Heredoc} without its body. */
export type HeredocHeader = Omit<Heredoc, "content">;

/**
 * Parses one word as a heredoc header (`<<EOF`, `<<-"EOF"`, `2<<EOF`); undefined when it is not one.
 *
 * @example
 * ```ts
 * parseHeredocWord("<<-'EOF'") // { name: "EOF", fileDescriptor: 0, expand: false, chomp: true }
 * ```
 * @throws CairnError `E_DOCKERFILE_SYNTAX` for an unterminated quote in the delimiter
 */
export function parseHeredocWord(word: string): HeredocHeader | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return undefined;
  const rest = m[3] as string;
  if (rest === "") return undefined;
  const plain = new ShellLexer({ skipUnsetEnv: true }).split(rest, EMPTY_ENV);
  if (plain.length !== 1) return undefined;
  const raw = new ShellLexer({ skipUnsetEnv: true, rawQuotes: true }).split(rest, EMPTY_ENV);
  const quotes = (s: string) => s.split("'").length + s.split('"').length - 2;
  const name = plain[0] as string;
  const fd = Number.parseInt(m[1] || "0", 10);
  return {
    name,
    fileDescriptor: Number.isSafeInteger(fd) ? fd : 0,
    expand: quotes(name) === quotes(raw[0] ?? ""),
    chomp: m[2] === "-",
  };
}

/** Like {@link parseHeredocWord} but undefined instead of an error. */
export function tryParseHeredocWord(word: string): HeredocHeader | undefined {
  try {
    return parseHeredocWord(word);
  } catch (err) {
    if (isCairnError(err)) return undefined;
    throw err;
  }
}

/** The heredoc headers on a logical line, in order. */
export function heredocsFromLine(line: string): HeredocHeader[] {
  let words: string[];
  try {
    words = new ShellLexer({ rawQuotes: true, rawEscapes: true, skipUnsetEnv: true }).split(line, EMPTY_ENV);
  } catch (err) {
    if (isCairnError(err)) return [];
    throw err;
  }
  const out: HeredocHeader[] = [];
  for (const word of words) {
    const h = parseHeredocWord(word);
    if (h) out.push(h);
  }
  return out;
}

/**
 * Removes leading tabs from every line of a `<<-` body.
 *
 * @example
 * ```ts
 * chompHeredocContent("\thello\n\t\tworld\n") // "hello\nworld\n"
 * ```
 */
export function chompHeredocContent(content: string): string {
  return content
    .split("\n")
    .map((line) => line.replace(/^\t+/, ""))
    .join("\n");
}
