// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Dockerfile and shell syntax, not templates
import { describe, expect, it } from "vitest";
import { expandWord, expandWords, ShellLexer } from "../src/dockerfile/index.js";
import { isCairnError } from "../src/errors/index.js";

const ENV = { PWD: "/home", SHELL: "bash", KOREAN: "한국어", NULL: "" };

function expandError(word: string, env: Record<string, string> = ENV): string {
  try {
    expandWord(word, env);
  } catch (err) {
    if (isCairnError(err, "E_DOCKERFILE_SYNTAX")) return err.message;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(word)} to fail`);
}

describe("expandWord: quotes and escapes", () => {
  const cases: Array<[string, string]> = [
    ["hello", "hello"],
    ["he'll'o", "hello"],
    ["he\\'llo", "he'llo"],
    ["abc\\tdef", "abctdef"],
    ['"abc\\tdef"', "abc\\tdef"],
    ['"abc\\\\tdef"', "abc\\tdef"],
    ["'abc\\tdef'", "abc\\tdef"],
    ["hello\\", "hello"],
    ["hello\\\\", "hello\\"],
    ['"hel\'lo"', "hel'lo"],
    ["'hello\\'", "hello\\"],
    ['"a\\"b"', 'a"b'],
    ['"a\\$b"', "a$b"],
    ["a\\ b", "a b"],
    ["'$PWD'", "$PWD"],
    ['"$PWD"', "/home"],
    ["\\$PWD", "$PWD"],
    ['"\\$PWD"', "$PWD"],
    ["\"'$PWD'\"", "'/home'"],
  ];
  for (const [input, expected] of cases) {
    it(`${input} -> ${expected}`, () => expect(expandWord(input, ENV)).toBe(expected));
  }
  for (const bad of ["he'llo", "he\\\\'llo", '"hello', '"hello\\"', "'hello"]) {
    it(`${bad} is an unterminated quote`, () =>
      expect(expandError(bad)).toMatch(/unexpected end of statement/));
  }
});

describe("expandWord: $v and ${v}", () => {
  const cases: Array<[string, string]> = [
    ["$PWD", "/home"],
    ["${PWD}", "/home"],
    ["${PWD}x", "/homex"],
    ["$PWDx", ""],
    ["he$PWD", "he/home"],
    ["$KOREAN", "한국어"],
    ["$", "$"],
    ["a$", "a$"],
    ["$.x", "$.x"],
    ["$1x", "x"],
    ["$$", ""],
    ["${#}", ""],
    ["$UNSET/x", "/x"],
  ];
  for (const [input, expected] of cases) {
    it(`${input} -> ${JSON.stringify(expected)}`, () => expect(expandWord(input, ENV)).toBe(expected));
  }
});

describe("expandWord: default, alternative and required", () => {
  const cases: Array<[string, string]> = [
    ["${NULL:-def}", "def"],
    ["${NULL-def}", ""],
    ["${UNSET-def}", "def"],
    ["${UNSET:-def}", "def"],
    ["${PWD:-def}", "/home"],
    ["${PWD-def}", "/home"],
    ["${UNSET:-$PWD/x}", "/home/x"],
    ["${UNSET:-'a b'}", "a b"],
    ["${PWD:+x}", "x"],
    ["${NULL:+x}", ""],
    ["${NULL+x}", "x"],
    ["${UNSET+x}", ""],
    ["${UNSET:+x}", ""],
    ["${PWD:?must}", "/home"],
    ["${PWD?must}", "/home"],
    ["${NULL?must}", ""],
  ];
  for (const [input, expected] of cases) {
    it(`${input} -> ${JSON.stringify(expected)}`, () => expect(expandWord(input, ENV)).toBe(expected));
  }
  it("${v:?msg} and ${v?msg} fail with the message", () => {
    expect(expandError("${UNSET:?must be set}")).toContain("UNSET: must be set");
    expect(expandError("${UNSET?must be set}")).toContain("UNSET: must be set");
    expect(expandError("${NULL:?}")).toContain("NULL: is not allowed to be empty");
    expect(expandError("${UNSET?}")).toContain("UNSET: is not allowed to be unset");
    expect(expandError("${VAR:?message here$ARG}", { VAR: "", ARG: "x" })).toContain("message herex");
  });
});

describe("expandWord: prefix and suffix removal", () => {
  const env = { V: "app.tar.gz", FOO: "xxyy", P: "/usr/local/bin" };
  const cases: Array<[string, string]> = [
    ["${V#*.}", "tar.gz"],
    ["${V##*.}", "gz"],
    ["${V%.*}", "app.tar"],
    ["${V%%.*}", "app"],
    ["${V#app}", ".tar.gz"],
    ["${V#x}", "app.tar.gz"],
    ["${V%}", "app.tar.gz"],
    ["${V#}", "app.tar.gz"],
    ["${P##*/}", "bin"],
    ["${P%/*}", "/usr/local"],
    ["${FOO#*x*y}", "y"],
    ["${FOO#*}", "xxyy"],
    ["${FOO##*x}", "yy"],
    ["${FOO#?}", "xyy"],
    ["${FOO%y?}", "xx"],
    ["${UNSET%x}", ""],
    ["${V:#app}", ".tar.gz"],
  ];
  for (const [input, expected] of cases) {
    it(`${input} -> ${JSON.stringify(expected)}`, () => expect(expandWord(input, env)).toBe(expected));
  }
  it("escapes make wildcards and regexp characters literal", () => {
    expect(expandWord("${FOO#()[]{\\}^$.\\*\\?|\\\\}", { FOO: "()[]{}^$.*?|\\x" })).toBe("x");
    expect(expandWord("${FOO%%\\**}", { FOO: "xx**" })).toBe("xx");
    expect(expandWord("${FOO%%\\**\\*}", { FOO: "a***yy*" })).toBe("a");
    expect(expandWord("${FOO#?\\?}", { FOO: "???y" })).toBe("?y");
  });
  it("rejects unknown escapes in patterns", () => {
    expect(expandError("${V#\\x}", env)).toContain("invalid pattern");
  });
});

describe("expandWord: replacement", () => {
  it("replaces the first or every match", () => {
    const env = { V: "app.tar.gz" };
    expect(expandWord("${V/a/X}", env)).toBe("Xpp.tar.gz");
    expect(expandWord("${V//a/X}", env)).toBe("Xpp.tXr.gz");
    expect(expandWord("${V/.*/}", env)).toBe("app");
    expect(expandWord("${V//./-}", env)).toBe("app-tar-gz");
  });
  it("follows BuildKit's cases for wildcards and slashes", () => {
    expect(expandWord("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", { FOO: "/foo*/*/*.txt", NEEDLE: "\\*/" })).toBe(
      "/foo.*/*.txt - /foo..*.txt",
    );
    expect(
      expandWord("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", { FOO: "/tmp/tmp/bar.txt", NEEDLE: "/tmp" }),
    ).toBe("/tmp/bar.txt - /bar.txt");
    expect(expandWord("${FOO/$N/$R} - ${FOO//$N/$R}", { FOO: "/a/foo/b/c.txt", N: "/?/", R: "/" })).toBe(
      "/foo/b/c.txt - /foo/c.txt",
    );
    expect(expandWord("${FOO//\\//\\/}", { FOO: "/tmp/foo.txt" })).toBe("\\/tmp\\/foo.txt");
    expect(expandWord("${FOO/$BAR/ww}", { FOO: "xxyy", BAR: "" })).toBe("wwxxyy");
    expect(expandWord("${FOO///}", { FOO: "xxyy" })).toBe("xxyy");
    expect(expandWord("${FOO///}", {})).toBe("");
  });
  it("skips empty matches right after a match, as Go does", () => {
    expect(expandWord("${V//*/X}", { V: "abc" })).toBe("X");
    expect(expandWord("${V//b*/X}", { V: "abc" })).toBe("aX");
    expect(expandWord("${V//$E/-}", { V: "ab", E: "" })).toBe("-a-b-");
  });
  it("reports a missing separator", () => {
    expect(expandError("${FOO//ww}", { FOO: "x" })).toContain("missing '/'");
    expect(expandError("${FOO//}", { FOO: "x" })).toContain("missing '/'");
  });
});

describe("expandWord: syntax errors", () => {
  const cases: Array<[string, RegExp]> = [
    ["${}", /bad substitution/],
    ["${:x}", /bad substitution/],
    ["${{x}", /bad substitution/],
    ["${", /missing '}'/],
    ["${FOO", /unsupported modifier|missing/],
    ["${FOO:-x", /missing '}'/],
    ["${FOO=aaa}", /unsupported modifier \(=\)/],
    ["${FOO:=aaa}", /unsupported modifier \(:=\)/],
    ["${ FOO}", /unsupported modifier/],
  ];
  for (const [input, message] of cases) {
    it(input, () => expect(expandError(input)).toMatch(message));
  }
  it("names the word in the message", () => {
    expect(expandError("${}")).toBe('failed to process "${}": syntax error: bad substitution');
  });
});

describe("expandWords and lexer options", () => {
  it("splits after expansion, keeping quoted and escaped spaces", () => {
    expect(expandWords('a "b c" d', {})).toEqual(["a", "b c", "d"]);
    expect(expandWords("$X", { X: "1 2" })).toEqual(["1", "2"]);
    expect(expandWords('"$X"', { X: "1 2" })).toEqual(["1 2"]);
    expect(expandWords("a\\ b  c", {})).toEqual(["a b", "c"]);
    expect(expandWords("  ", {})).toEqual([]);
    expect(expandWords("a''b", {})).toEqual(["ab"]);
  });
  it("uses the backtick escape token", () => {
    expect(expandWord("a`$b", { b: "x" }, { escapeToken: "`" })).toBe("a$b");
    expect(expandWord("a\\b", {}, { escapeToken: "`" })).toBe("a\\b");
  });
  it("keeps quotes, escapes and unset variables when asked", () => {
    const lexer = new ShellLexer({ rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
    expect(lexer.expand("'$A' ${B:-x} $C \\n", { C: "c" })).toBe("'$A' ${B:-x} c \\n");
    expect(new ShellLexer({ skipProcessQuotes: true }).expand("'$C' \"x\"", { C: "c" })).toBe("'c' \"x\"");
  });
  it("reports which variables were set", () => {
    const r = new ShellLexer().processWord("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", { FOO: "xxx", BAR: "" });
    expect(r.result).toBe("xxx  ccc");
    expect(r.matched.sort()).toEqual(["BAR", "FOO"]);
    expect(r.unmatched).toEqual(["BAZ"]);
  });
  it("accepts maps and KEY=VALUE lists (later wins)", () => {
    expect(expandWord("$A", new Map([["A", "m"]]))).toBe("m");
    expect(expandWord("$A-$B", ["A=1", "A=2", "B"])).toBe("2-");
  });
  it("can match names case-insensitively (Windows)", () => {
    expect(expandWord("$path", { PATH: "/bin" }, { caseInsensitiveNames: true })).toBe("/bin");
    expect(expandWord("$path", { PATH: "/bin" })).toBe("");
  });
  it("builds BuildKit's release file name", () => {
    const env = { VERSION: "v1.2.3", TARGETOS: "linux", TARGETARCH: "arm", TARGETVARIANT: "v7" };
    expect(
      expandWord(
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
        env,
      ),
    ).toBe("something-v1.2.3.linux-arm-v7.tar.gz");
  });
});
