/**
 * BuildKit's shell lexer: variable expansion (`$v`, `${v}`, `${v:-w}`, `${v-w}`, `${v:+w}`,
 * `${v+w}`, `${v:?msg}`, `${v?msg}`, `${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`, `${v/p/r}`,
 * `${v//p/r}`), single and double quotes, escapes, and word splitting after expansion.
 */
import { CairnError } from "../errors/index.js";
import { isGoSpace } from "./go-text.js";
import {
  goReplaceAll,
  ShellPatternError,
  shellPatternToRegExp,
  trimPrefixPattern,
  trimSuffixPattern,
} from "./shell-pattern.js";

/** Variables for expansion: an object, a map, or `KEY=VALUE` strings (a later duplicate wins). */
export type ShellEnv = Readonly<Record<string, string>> | ReadonlyMap<string, string> | readonly string[];

/** How a {@link ShellLexer} treats quotes, escapes and unset variables. */
export interface ShellLexerOptions {
  /** The escape character: `\` (default) or `` ` `` (set by the `escape` parser directive). */
  escapeToken?: string;
  /** Keep quote characters in the result. */
  rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters (heredoc bodies). */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written. */
  skipUnsetEnv?: boolean;
  /** Match variable names case-insensitively, as on Windows. */
  caseInsensitiveNames?: boolean;
}

/** The outcome of processing one word. */
export interface ShellWordResult {
  /** The expanded text, spaces kept. */
  result: string;
  /** The expanded text split into words (quoted spaces and escaped spaces do not split). */
  words: string[];
  /** Variables that were referenced and set. */
  matched: string[];
  /** Variables that were referenced but not set. */
  unmatched: string[];
}

const EOF = undefined;
type Ch = string | undefined;

class ShellSyntaxError extends Error {}

class Scanner {
  private readonly chars: string[];
  private pos = 0;
  constructor(text: string) {
    this.chars = Array.from(text);
    if (this.chars[0] === "\ufeff") this.pos = 1;
  }
  peek(): Ch {
    return this.chars[this.pos];
  }
  next(): Ch {
    const ch = this.chars[this.pos];
    if (ch !== EOF) this.pos++;
    return ch;
  }
}

class Words {
  word = "";
  inWord = false;
  readonly words: string[] = [];
  addChar(ch: string): void {
    if (isGoSpace(ch)) {
      if (this.inWord && this.word.length !== 0) {
        this.words.push(this.word);
        this.word = "";
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }
  addRawChar(ch: string): void {
    this.word += ch;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  addRawString(s: string): void {
    this.word += s;
    this.inWord = true;
  }
  done(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = "";
      this.inWord = false;
    }
    return this.words;
  }
}

function isSpecialParam(ch: string): boolean {
  return "@*#?-$!0".includes(ch) && ch.length === 1;
}

const LETTER = /\p{L}/u;
const DIGIT = /\p{Nd}/u;

function toLookup(env: ShellEnv, caseInsensitive: boolean): (name: string) => string | undefined {
  let map: Map<string, string>;
  if (Array.isArray(env)) {
    map = new Map();
    for (const e of env as readonly string[]) {
      const eq = e.indexOf("=");
      if (eq < 0) map.set(e, "");
      else map.set(e.slice(0, eq), e.slice(eq + 1));
    }
  } else if (env instanceof Map) {
    map = env as Map<string, string>;
  } else {
    map = new Map(Object.entries(env as Record<string, string>));
  }
  if (!caseInsensitive) return (name) => map.get(name);
  const upper = new Map<string, string>();
  for (const [k, v] of map) upper.set(k.toUpperCase(), v);
  return (name) => upper.get(name.toUpperCase());
}

/** One pass over one word; mirrors BuildKit's `shellWord`. */
class WordProcessor {
  private readonly scanner: Scanner;
  private rawEscapes: boolean;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    text: string,
    private readonly opts: Required<Omit<ShellLexerOptions, "caseInsensitiveNames">>,
    private readonly lookup: (name: string) => string | undefined,
  ) {
    this.scanner = new Scanner(text);
    this.rawEscapes = opts.rawEscapes;
  }

  private getEnv(name: string): string | undefined {
    const v = this.lookup(name);
    if (v === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return v;
  }

  processStopOn(stop: Ch, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.stopOn(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private stopOn(stop: Ch): { result: string; words: string[] } {
    const sc = this.scanner;
    const esc = this.opts.escapeToken;
    let result = "";
    const words = new Words();
    while (sc.peek() !== EOF) {
      let ch = sc.peek() as string;
      if (stop !== EOF && ch === stop) {
        sc.next();
        return { result, words: words.done() };
      }
      const quote = !this.opts.skipProcessQuotes && (ch === "'" || ch === '"');
      if (ch === "$" || quote || ch === "<") {
        let tmp: string;
        if (ch === "$") tmp = this.processDollar();
        else if (ch === "'") tmp = this.processSingleQuote();
        else if (ch === '"') tmp = this.processDoubleQuote();
        else tmp = this.processPossibleHeredoc();
        result += tmp;
        if (ch === "$") words.addString(tmp);
        else words.addRawString(tmp);
        continue;
      }
      ch = sc.next() as string;
      if (ch === esc) {
        if (this.rawEscapes) {
          words.addRawChar(ch);
          result += ch;
        }
        const escaped = sc.next();
        if (escaped === EOF) break;
        words.addRawChar(escaped);
        result += escaped;
        continue;
      }
      words.addChar(ch);
      result += ch;
    }
    if (stop !== EOF) {
      throw new ShellSyntaxError(`unexpected end of statement while looking for matching ${stop}`);
    }
    return { result, words: words.done() };
  }

  private processPossibleHeredoc(): string {
    const sc = this.scanner;
    sc.next();
    if (sc.peek() !== "<") return "<";
    sc.next();
    let spaces = "";
    for (let ch = sc.peek(); ch === " " || ch === "\t"; ch = sc.peek()) {
      spaces += ch;
      sc.next();
    }
    return `<<${spaces}`;
  }

  private processSingleQuote(): string {
    const sc = this.scanner;
    const raw = this.opts.rawQuotes;
    const open = sc.next() as string;
    let result = raw ? open : "";
    for (;;) {
      const ch = sc.next();
      if (ch === EOF) {
        throw new ShellSyntaxError("unexpected end of statement while looking for matching single-quote");
      }
      if (ch === "'") return raw ? `${result}'` : result;
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    const sc = this.scanner;
    const raw = this.opts.rawQuotes;
    const esc = this.opts.escapeToken;
    const open = sc.next() as string;
    let result = raw ? open : "";
    for (;;) {
      const peek = sc.peek();
      if (peek === EOF) {
        throw new ShellSyntaxError("unexpected end of statement while looking for matching double-quote");
      }
      if (peek === '"') {
        sc.next();
        return raw ? `${result}"` : result;
      }
      if (peek === "$") {
        result += this.processDollar();
        continue;
      }
      let ch = sc.next() as string;
      if (ch === esc) {
        if (this.rawEscapes) result += ch;
        const after = sc.peek();
        if (after === EOF) continue;
        if (after === '"' || after === "$" || after === esc) ch = sc.next() as string;
      }
      result += ch;
    }
  }

  private processName(): string {
    const sc = this.scanner;
    let name = "";
    for (let ch = sc.peek(); ch !== EOF; ch = sc.peek()) {
      if (name.length === 0 && DIGIT.test(ch)) {
        for (let d = sc.peek(); d !== EOF && DIGIT.test(d); d = sc.peek()) name += sc.next();
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) return sc.next() as string;
      if (!LETTER.test(ch) && !DIGIT.test(ch) && ch !== "_") break;
      name += sc.next();
    }
    return name;
  }

  private processDollar(): string {
    const sc = this.scanner;
    sc.next();
    if (sc.peek() !== "{") {
      const name = this.processName();
      if (name === "") return "$";
      const value = this.getEnv(name);
      if (value === undefined && this.opts.skipUnsetEnv) return `$${name}`;
      return value ?? "";
    }
    sc.next();
    const first = sc.peek();
    if (first === EOF) throw new ShellSyntaxError("syntax error: missing '}'");
    if (first === "{" || first === "}" || first === ":") {
      throw new ShellSyntaxError("syntax error: bad substitution");
    }
    const name = this.processName();
    let ch = sc.next();
    let chs = ch ?? "\ufffd";
    if (ch === "}") {
      const value = this.getEnv(name);
      if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}}`;
      return value ?? "";
    }
    if (ch === "/") return this.processReplace(name);
    let nullIsUnset = false;
    if (ch === ":") {
      nullIsUnset = true;
      ch = sc.next();
      chs += ch ?? "\ufffd";
    } else if (ch !== "+" && ch !== "-" && ch !== "?" && ch !== "#" && ch !== "%") {
      throw new ShellSyntaxError(`unsupported modifier (${chs}) in substitution`);
    }
    let word: string;
    try {
      word = this.processStopOn("}", ch === "#" || ch === "%").result;
    } catch (err) {
      if (sc.peek() === EOF) throw new ShellSyntaxError("syntax error: missing '}'");
      throw err;
    }
    const value = this.getEnv(name);
    if (this.opts.skipUnsetEnv && value === undefined) return `\${${name}${chs}${word}}`;
    const unset = value === undefined || (nullIsUnset && value === "");
    switch (ch) {
      case "-":
        return unset ? word : (value as string);
      case "+":
        return unset ? "" : word;
      case "?":
        if (value === undefined)
          throw new ShellSyntaxError(`${name}: ${word || "is not allowed to be unset"}`);
        if (nullIsUnset && value === "") {
          throw new ShellSyntaxError(`${name}: ${word || "is not allowed to be empty"}`);
        }
        return value;
      case "%":
      case "#": {
        const greedy = word[0] === ch;
        const pattern = greedy ? word.slice(1) : word;
        const current = value ?? "";
        return this.patternOp(pattern, () =>
          ch === "%"
            ? trimSuffixPattern(pattern, current, greedy)
            : trimPrefixPattern(pattern, current, greedy),
        );
      }
      default:
        throw new ShellSyntaxError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private patternOp(pattern: string, op: () => string): string {
    try {
      return op();
    } catch (err) {
      const why = err instanceof ShellPatternError ? err.message : String(err);
      throw new ShellSyntaxError(`invalid pattern (${pattern}) in substitution: ${why}`);
    }
  }

  private processReplace(name: string): string {
    const sc = this.scanner;
    const all = sc.peek() === "/";
    if (all) sc.next();
    let pattern: string;
    try {
      pattern = this.processStopOn("/", true).result;
    } catch (err) {
      if (sc.peek() === EOF) throw new ShellSyntaxError(`syntax error: missing '/' in $\{}`);
      throw err;
    }
    let replacement: string;
    try {
      replacement = this.processStopOn("}", true).result;
    } catch (err) {
      if (sc.peek() === EOF) throw new ShellSyntaxError("syntax error: missing '}'");
      throw err;
    }
    const value = this.getEnv(name);
    if (this.opts.skipUnsetEnv && value === undefined) return `\${${name}/${pattern}/${replacement}}`;
    const current = value ?? "";
    return this.patternOp(pattern, () => {
      const re = shellPatternToRegExp(pattern, true, false);
      if (all) return goReplaceAll(current, re, replacement);
      const m = re.exec(current);
      return m ? current.slice(0, m.index) + replacement + current.slice(m.index + m[0].length) : current;
    });
  }
}

/**
 * BuildKit's shell lexer, for the instructions and positions where Docker expands variables.
 *
 * @example
 * ```ts
 * new ShellLexer().processWord('${NAME:-world} "a b"', { NAME: "" }).words // ["world", "a b"]
 * ```
 */
export class ShellLexer {
  private readonly opts: Required<Omit<ShellLexerOptions, "caseInsensitiveNames">>;
  private readonly caseInsensitive: boolean;

  constructor(options: ShellLexerOptions = {}) {
    this.opts = {
      escapeToken: options.escapeToken ?? "\\",
      rawQuotes: options.rawQuotes ?? false,
      rawEscapes: options.rawEscapes ?? false,
      skipProcessQuotes: options.skipProcessQuotes ?? false,
      skipUnsetEnv: options.skipUnsetEnv ?? false,
    };
    this.caseInsensitive = options.caseInsensitiveNames ?? false;
  }

  /**
   * Expands `word` against `env`, returning the text, its words and which variables were used.
   *
   * @example
   * ```ts
   * new ShellLexer().processWord("$A-${B}", { A: "x" }).unmatched // ["B"]
   * ```
   * @throws CairnError `E_DOCKERFILE_SYNTAX` for bad substitutions, unterminated quotes and `${v:?msg}` failures
   */
  processWord(word: string, env: ShellEnv): ShellWordResult {
    const p = new WordProcessor(word, this.opts, toLookup(env, this.caseInsensitive));
    try {
      const { result, words } = p.processStopOn(EOF, this.opts.rawEscapes);
      return { result, words, matched: [...p.matched], unmatched: [...p.unmatched] };
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new CairnError("E_DOCKERFILE_SYNTAX", `failed to process ${JSON.stringify(word)}: ${why}`, {
        details: { word, reason: why },
      });
    }
  }

  /** The expanded text of `word`. */
  expand(word: string, env: ShellEnv): string {
    return this.processWord(word, env).result;
  }

  /** The expanded words of `word`. */
  split(word: string, env: ShellEnv): string[] {
    return this.processWord(word, env).words;
  }
}

/**
 * Expands variables, quotes and escapes in one word, as Docker does for ENV, LABEL, COPY,
 * WORKDIR, USER and the other instructions that expand.
 *
 * @example
 * ```ts
 * expandWord("${HOME}/bin:$PATH", { HOME: "/root", PATH: "/usr/bin" }) // "/root/bin:/usr/bin"
 * expandWord("${V%.*}", { V: "app.tar.gz" })                            // "app.tar"
 * ```
 * @throws CairnError `E_DOCKERFILE_SYNTAX`
 */
export function expandWord(word: string, env: ShellEnv, options: ShellLexerOptions = {}): string {
  return new ShellLexer(options).expand(word, env);
}

/**
 * Expands `text` and splits it into words (as for EXPOSE and heredoc names).
 *
 * @example
 * ```ts
 * expandWords('$PORTS "8080 /tcp"', { PORTS: "80 443" }) // ["80", "443", "8080 /tcp"]
 * ```
 * @throws CairnError `E_DOCKERFILE_SYNTAX`
 */
export function expandWords(text: string, env: ShellEnv, options: ShellLexerOptions = {}): string[] {
  return new ShellLexer(options).split(text, env);
}
