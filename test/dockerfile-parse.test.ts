import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  chompHeredocContent,
  type DockerfileAst,
  formatBuildkitDump,
  heredocsFromLine,
  parseDockerfile,
  parseHeredocWord,
} from "../src/dockerfile/index.js";
import { CairnError, isCairnError } from "../src/errors/index.js";

function parseError(text: string): CairnError {
  try {
    parseDockerfile(text);
  } catch (err) {
    if (isCairnError(err)) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

function dump(text: string): string {
  return formatBuildkitDump(parseDockerfile(text));
}

const HEREDOC_FILE = [
  "",
  "FROM alpine:3.6",
  "",
  "ENV NAME=me",
  "",
  "RUN ls",
  "",
  "USER <<INVALID",
  "INVALID",
  "",
  "RUN <<EMPTY",
  "EMPTY",
  "",
  "RUN 3<<EMPTY2",
  "EMPTY2",
  "",
  'RUN "<<NOHEREDOC"',
  "",
  "RUN <<INDENT",
  "\tfoo",
  "\tbar",
  "INDENT",
  "",
  "RUN <<-UNINDENT",
  "\tbaz",
  "\tquux",
  "UNINDENT",
  "",
  "RUN <<-UNINDENT2",
  "\tbaz",
  "\tquux",
  "\tUNINDENT2",
  "",
  "RUN <<-'NOEXPAND'",
  "\tdon't expand $NAME",
  "NOEXPAND",
  "",
  "RUN <<COMMENT",
  "# internal comment",
  "echo foo bar # trailing comment",
  "COMMENT",
  "",
  "RUN --mount=type=cache,target=/foo <<MOUNT",
  "echo hello",
  "MOUNT",
  "",
  "COPY <<FILE1 <<FILE2 /dest",
  "content 1",
  "FILE1",
  "content 2",
  "FILE2",
  "",
  "COPY <<X <<Y /dest",
  "Y",
  "X",
  "X",
  "Y",
  "",
  "RUN <<COMPLEX python3",
  "print('hello world')",
  "COMPLEX",
  "",
  "RUN <<eo'f'",
  "echo foo",
  "eof",
  "",
  "RUN <<eo\\'f",
  "echo foo",
  "eo'f",
  "",
  "RUN <<'e'o\\'f",
  "echo foo",
  "eo'f",
  "",
  "RUN <<'one two'",
  "echo bar",
  "one two",
  "",
  "RUN <<$EOF",
  "$EOF",
  "",
  "RUN <<  EOF",
  "EOF",
  "",
].join("\n");

describe("parseDockerfile: heredocs", () => {
  const ast = parseDockerfile(HEREDOC_FILE);
  const docs = ast.instructions.map((i) =>
    i.heredocs.map(({ name, content, expand, chomp, fileDescriptor }) => ({
      name,
      content,
      expand,
      chomp,
      fileDescriptor,
    })),
  );
  const h = (name: string, content: string, expand = true, chomp = false, fileDescriptor = 0) => ({
    name,
    content,
    expand,
    chomp,
    fileDescriptor,
  });
  it("reads every heredoc body, delimiter and flag", () => {
    expect(docs).toEqual([
      [],
      [],
      [],
      [],
      [],
      [h("EMPTY", "")],
      [h("EMPTY2", "", true, false, 3)],
      [],
      [h("INDENT", "\tfoo\n\tbar\n")],
      [h("UNINDENT", "\tbaz\n\tquux\n", true, true)],
      [h("UNINDENT2", "\tbaz\n\tquux\n", true, true)],
      [h("NOEXPAND", "\tdon't expand $NAME\n", false, true)],
      [h("COMMENT", "# internal comment\necho foo bar # trailing comment\n")],
      [h("MOUNT", "echo hello\n")],
      [h("FILE1", "content 1\n"), h("FILE2", "content 2\n")],
      [h("X", "Y\n"), h("Y", "X\n")],
      [h("COMPLEX", "print('hello world')\n")],
      [h("eof", "echo foo\n", false)],
      [h("eo'f", "echo foo\n")],
      [h("eo'f", "echo foo\n", false)],
      [h("one two", "echo bar\n", false)],
      [h("$EOF", "")],
      [h("EOF", "")],
    ]);
  });
  it("counts heredoc lines in the instruction span and keeps them out of the dump", () => {
    const copy = ast.instructions[14];
    expect([copy?.startLine, copy?.endLine]).toEqual([47, 51]);
    expect(dump("FROM a\nRUN <<EOF\necho hi\nEOF\n")).toBe('(from "a")\n(run "<<EOF")\n');
  });
  it("ignores heredoc syntax in JSON form and other instructions", () => {
    const json = parseDockerfile('FROM a\nRUN ["<<EOF"]\nRUN ["whoami"]\n');
    expect(json.instructions.every((i) => i.heredocs.length === 0)).toBe(true);
  });
  it("reads heredocs of ONBUILD triggers", () => {
    const ob = parseDockerfile("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n").instructions[1];
    expect(ob?.trigger?.heredocs.map((d) => d.content)).toEqual(["echo hi\n"]);
    expect(ob?.endLine).toBe(4);
  });
  it("fails on an unterminated heredoc", () => {
    const err = parseError("FROM a\nRUN <<EOF\necho hi\n");
    expect(err.message).toContain("unterminated heredoc");
    expect(err.details).toMatchObject({ line: 2, column: 1, endLine: 3 });
  });
  it("parses heredoc words like BuildKit", () => {
    for (const w of [
      "<<EOF",
      "<<'EOF'",
      '<<"EOF"',
      "<<-EOF",
      "<<-'EOF'",
      '<<-"EOF"',
      '<<EO"F"',
      "<< EOF",
      "<<- EOF",
    ]) {
      expect(parseHeredocWord(w)?.name).toBe("EOF");
    }
    for (const w of ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"]) {
      expect(parseHeredocWord(w)).toBeUndefined();
    }
    for (const w of ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"']) {
      expect(() => parseHeredocWord(w)).toThrow(CairnError);
    }
    expect(heredocsFromLine("RUN <<EOF <<EOF2").map((d) => d.name)).toEqual(["EOF", "EOF2"]);
    expect(heredocsFromLine("RUN << -EOF").map((d) => d.name)).toEqual(["-EOF"]);
    expect(heredocsFromLine("RUN 4<<EOF")[0]).toMatchObject({ name: "EOF", fileDescriptor: 4 });
    expect(heredocsFromLine("RUN '<<EOF'")).toEqual([]);
    expect(heredocsFromLine('RUN "<<EOF"')).toEqual([]);
  });
  it("chomps leading tabs line by line", () => {
    expect(chompHeredocContent("\thello\n\t\tworld\n  keep\n")).toBe("hello\nworld\n  keep\n");
  });
});

describe("parseDockerfile: directives, comments and continuations", () => {
  it("records directives and stops at the first other line", () => {
    const ast = parseDockerfile(
      "# syntax=docker/dockerfile:1\n#check=skip=all\n# escape=`\nFROM a\nRUN b `\n  c\n",
    );
    expect(ast.directives).toEqual([
      { name: "syntax", value: "docker/dockerfile:1", line: 1 },
      { name: "check", value: "skip=all", line: 2 },
      { name: "escape", value: "`", line: 3 },
    ]);
    expect(ast.escapeToken).toBe("`");
    expect(ast.instructions[1]?.args).toEqual(["b   c"]);
  });
  it("rejects a repeated directive and a bad escape token", () => {
    const twice = parseError("# escape=\\\n# escape=`\nFROM a\n");
    expect(twice.message).toContain("only one escape parser directive can be used");
    expect(twice.details).toMatchObject({ line: 2 });
    expect(parseError("# escape=x\nFROM a\n").message).toContain("invalid escape token 'x'");
  });
  it("treats unknown directives and later ones as comments", () => {
    const ast = parseDockerfile("# foo=bar\n# escape=`\nFROM a\nRUN b \\\n c\n");
    expect(ast.directives).toEqual([]);
    expect(ast.instructions[1]?.args).toEqual(["b  c"]);
  });
  it("honours the escape option", () => {
    expect(parseDockerfile("FROM a\nRUN b `\nc\n", { escape: "`" }).instructions[1]?.args).toEqual(["b c"]);
  });
  it("keeps preceding comments and strips a BOM", () => {
    const ast = parseDockerfile(
      "\ufeff# builds the app\n# second\nFROM a\n\n#\n# after blank comment\nRUN x\n",
    );
    expect(ast.instructions[0]?.comments).toEqual(["builds the app", "second"]);
    expect(ast.instructions[1]?.comments).toEqual(["after blank comment"]);
  });
  it("warns about empty continuation lines", () => {
    const ast = parseDockerfile("FROM a\nRUN something \\\n\nfollowing \\\n\nmore\n");
    expect(ast.instructions[1]?.args).toEqual(["something following more"]);
    expect(ast.warnings).toEqual([
      { message: "Empty continuation line found in: RUN something following more", line: 6 },
    ]);
  });
  it("handles CRLF line endings", () => {
    expect(dump("FROM a\r\nRUN b \\\r\n  c\r\n")).toBe('(from "a")\n(run "b   c")\n');
  });
  it("gives keyword columns and ONBUILD triggers", () => {
    const ast = parseDockerfile("FROM a\n   onbuild copy --chown=1 . /\n");
    const ob = ast.instructions[1];
    expect(ob).toMatchObject({ keyword: "ONBUILD", rawKeyword: "onbuild", column: 4 });
    expect(ob?.trigger).toMatchObject({ keyword: "COPY", flags: ["--chown=1"], args: [".", "/"] });
    expect(formatBuildkitDump(ast)).toBe('(from "a")\n(onbuild (copy ["--chown=1"] "." "/"))\n');
  });
  it("dumps unknown instructions with an empty argument", () => {
    expect(dump("FROM a\nFOO bar baz\n")).toBe('(from "a")\n(foo "")\n');
  });
  it("quotes like Go's strconv.Quote", () => {
    expect(dump('FROM a\nLABEL x="\u00a0\u0001\u007f\u200b😀"\n')).toBe(
      '(from "a")\n(label "x" "\\"\\u00a0\\x01\\x7f\\u200b😀\\"" "=")\n',
    );
  });
});

describe("parseDockerfile: errors", () => {
  it("rejects input without instructions", () => {
    expect(parseError("").message).toContain("file with no instructions");
    expect(parseError("# only\n\n  \n").details).toMatchObject({ line: 3 });
  });
  it("rejects over-long lines", () => {
    const err = parseError(`FROM a\nRUN ${"x".repeat(65535)}\n`);
    expect(err.message).toContain("dockerfile line greater than max allowed size of 65535");
    expect(err.details).toMatchObject({ line: 2 });
    expect(() => parseDockerfile(`FROM a\n${"#".repeat(65535)}\n`)).not.toThrow();
  });
  it("points at ENV and LABEL mistakes", () => {
    const err = parseError("FROM a\nENV a=1 b\n");
    expect(err.message).toContain(`Syntax error - can't find = in "b"`);
    expect(err.details).toMatchObject({ line: 2, column: 9 });
    expect(parseError("FROM a\nLABEL x\n").message).toContain("LABEL must have two arguments");
  });
  it("says what was expected for nested JSON", () => {
    const err = parseError('FROM a\nRUN ["a", 1]\n');
    expect(err.message).toMatch(
      /arrays must be comprised of strings only; expected a JSON array of strings, found 1/,
    );
  });
  it("falls back to shell form for JSON it cannot read", () => {
    expect(dump("FROM a\nCMD [1e999]\n")).toBe('(from "a")\n(cmd "[1e999]")\n');
  });
  it("reads bytes as UTF-8", () => {
    const ast: DockerfileAst = parseDockerfile(new TextEncoder().encode("FROM a\nLABEL k=☃\n"));
    expect(ast.instructions[1]?.args).toEqual(["k", "☃", "="]);
  });
});

describe("parseDockerfile: properties", () => {
  const dockerfileChars = fc.constantFrom(
    "F",
    "R",
    "O",
    "M",
    "U",
    "N",
    " ",
    "\t",
    "\n",
    "\r",
    "\\",
    "`",
    "#",
    "=",
    '"',
    "'",
    "[",
    "]",
    ",",
    "$",
    "{",
    "}",
    "<",
    "-",
    ":",
    "a",
    "0",
    "\u00a0",
    "☃",
  );
  const lines = fc.constantFrom(
    "FROM a",
    "RUN <<EOF",
    "EOF",
    "COPY <<A <<B /d",
    "ENV a=b c",
    "# escape=`",
    "ONBUILD RUN x \\",
    'CMD ["a", [1]]',
    'ARG x="y z" w',
    'HEALTHCHECK --x CMD ["a"]',
  );
  const texts = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.array(dockerfileChars, { maxLength: 300 }).map((a) => a.join("")),
    fc.array(fc.oneof(lines, fc.string({ maxLength: 40 })), { maxLength: 30 }).map((l) => l.join("\n")),
  );
  it("throws nothing but CairnError", () => {
    fc.assert(
      fc.property(texts, (text) => {
        try {
          formatBuildkitDump(parseDockerfile(text));
        } catch (err) {
          if (!isCairnError(err)) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });
  it("takes time linear in the input", () => {
    const shapes = [
      (n: number) => `FROM a\nRUN ${"x \\\n".repeat(n)}\n`,
      (n: number) => `# escape=${" ".repeat(n)}x\nFROM a\n`,
      (n: number) => `FROM a\nENV ${'a="b c" '.repeat(n)}\n`,
      (n: number) => `FROM a\nRUN ${"<<E ".repeat(n)}\n${"E\n".repeat(n)}`,
      (n: number) => `FROM a\nCMD [${'"a",'.repeat(n)}"b"]\n`,
      (n: number) => `FROM a\nRUN x${" \\ \t".repeat(n)}\n`,
      (n: number) => `FROM a\n${"\\\n".repeat(n)}`,
    ];
    for (const shape of shapes) {
      const text = shape(3000);
      const start = performance.now();
      try {
        parseDockerfile(text);
      } catch (err) {
        if (!isCairnError(err)) throw err;
      }
      expect(performance.now() - start).toBeLessThan(1000);
    }
  });
});
