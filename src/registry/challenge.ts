/** One challenge of a `WWW-Authenticate` header. */
export interface Challenge {
  /** The auth scheme, lowercased: `bearer`, `basic`, … */
  scheme: string;
  /** The auth parameters, names lowercased (`realm`, `service`, `scope`, `error`, …). */
  params: Record<string, string>;
  /** A token68 value, for schemes that use one instead of parameters. */
  token68?: string;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_AT = /^([A-Za-z0-9\-._~+/]+=*)[ \t]*(?:,|$)/;

/**
 * Parses `WWW-Authenticate` values (RFC 7235) into challenges, in order: several challenges in
 * one header, quoted strings with escapes, token68 values. Unreadable parts are skipped.
 *
 * @example
 * ```ts
 * parseChallenges('Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"')
 * // [{ scheme: "bearer", params: { realm: "https://auth.example/token", service: "registry", scope: "repository:a:pull" } }]
 * ```
 */
export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (typeof header !== "string") return header.flatMap((h) => parseChallenges(h));
  return new ChallengeParser(header).parse();
}

class ChallengeParser {
  private pos = 0;
  constructor(private readonly s: string) {}

  parse(): Challenge[] {
    const out: Challenge[] = [];
    for (;;) {
      this.skip(/[ \t,]/);
      if (this.pos >= this.s.length) return out;
      const scheme = this.token();
      if (scheme === "") {
        this.skipPast(",");
        continue;
      }
      const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
      out.push(challenge);
      this.skip(/[ \t]/);
      const t68 = TOKEN68_AT.exec(this.s.slice(this.pos));
      if (t68?.[1] && this.s[this.pos + t68[1].length] !== "=") {
        challenge.token68 = t68[1];
        this.pos += t68[1].length;
        continue;
      }
      this.params(challenge);
    }
  }

  private params(challenge: Challenge): void {
    for (;;) {
      const start = this.pos;
      const name = this.token();
      if (name === "") return;
      this.skip(/[ \t]/);
      if (this.s[this.pos] !== "=") {
        // a token without "=" starts the next challenge
        this.pos = start;
        return;
      }
      this.pos++;
      this.skip(/[ \t]/);
      const value = this.s[this.pos] === '"' ? this.quoted() : this.token();
      challenge.params[name.toLowerCase()] = value;
      this.skip(/[ \t]/);
      if (this.s[this.pos] !== ",") {
        if (this.pos < this.s.length) this.skipPast(",");
        return;
      }
      this.pos++;
      this.skip(/[ \t,]/);
    }
  }

  private token(): string {
    const start = this.pos;
    while (this.pos < this.s.length && TOKEN_CHAR.test(this.s[this.pos] as string)) this.pos++;
    return this.s.slice(start, this.pos);
  }

  private quoted(): string {
    let out = "";
    this.pos++;
    while (this.pos < this.s.length) {
      const c = this.s[this.pos++] as string;
      if (c === '"') return out;
      if (c === "\\" && this.pos < this.s.length) out += this.s[this.pos++];
      else out += c;
    }
    return out;
  }

  private skip(re: RegExp): void {
    while (this.pos < this.s.length && re.test(this.s[this.pos] as string)) this.pos++;
  }

  private skipPast(c: string): void {
    const i = this.s.indexOf(c, this.pos);
    this.pos = i < 0 ? this.s.length : i + 1;
  }
}

/**
 * Formats a challenge back into header text (parameters always quoted); the inverse of
 * {@link parseChallenges} for one challenge.
 *
 * @example
 * ```ts
 * formatChallenge({ scheme: "basic", params: { realm: "r" } }) // 'basic realm="r"'
 * ```
 */
export function formatChallenge(c: Challenge): string {
  if (c.token68 !== undefined) return `${c.scheme} ${c.token68}`;
  const params = Object.entries(c.params).map(([k, v]) => `${k}="${v.replace(/["\\]/g, "\\$&")}"`);
  return params.length > 0 ? `${c.scheme} ${params.join(", ")}` : c.scheme;
}

/**
 * The challenge cairn answers: Bearer when offered, else Basic; undefined when neither is.
 *
 * @example
 * ```ts
 * pickChallenge(parseChallenges('Basic realm="x", Bearer realm="https://a/t"'))?.scheme // "bearer"
 * ```
 */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
}
