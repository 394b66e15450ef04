import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { formatBuildkitDump, parseDockerfile } from "../src/dockerfile/index.js";
import { type CairnError, isCairnError } from "../src/errors/index.js";
import { conformanceDir } from "./helpers/conformance.js";

const root = conformanceDir("dockerfile-parser");

function caseDirs(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => !name.startsWith("_") && statSync(path.join(dir, name)).isDirectory())
    .sort();
}

function parseError(file: string): CairnError {
  try {
    parseDockerfile(readFileSync(file));
  } catch (err) {
    if (isCairnError(err)) return err;
    throw err;
  }
  throw new Error(`expected ${file} to be rejected`);
}

describe("BuildKit parser conformance: positive cases", () => {
  const cases = caseDirs(root);
  it("has the 33 upstream cases", () => {
    expect(cases).toHaveLength(33);
  });
  for (const name of cases) {
    it(name, () => {
      const dockerfile = readFileSync(path.join(root, name, "Dockerfile"));
      const expected = readFileSync(path.join(root, name, "result"), "utf8").replace(/\r\n/g, "\n");
      expect(formatBuildkitDump(parseDockerfile(dockerfile))).toBe(expected);
    });
  }
});

describe("BuildKit parser conformance: negative cases", () => {
  const negative = path.join(root, "_negative");
  const messages: Record<string, string> = {
    empty_dockerfile: "file with no instructions",
    only_comments: "file with no instructions",
    env_no_value: "ENV must have two arguments",
    "shykes-nested-json": "when using JSON array syntax, arrays must be comprised of strings only",
  };
  it("covers every upstream negative case", () => {
    expect(readdirSync(negative).sort()).toEqual(Object.keys(messages).sort());
  });
  for (const [name, message] of Object.entries(messages)) {
    it(name, () => {
      const err = parseError(path.join(negative, name, "Dockerfile"));
      expect(err.code).toBe("E_DOCKERFILE_SYNTAX");
      expect(err.message).toContain(message);
      expect(err.message).toMatch(/^Dockerfile line \d+, column \d+: /);
    });
  }
  it("names the line of the bad instruction", () => {
    const env = parseError(path.join(negative, "env_no_value", "Dockerfile"));
    expect(env.details).toMatchObject({ line: 3, column: 5 });
    const json = parseError(path.join(negative, "shykes-nested-json", "Dockerfile"));
    expect(json.details).toMatchObject({ line: 1, column: 5 });
  });
});

describe("BuildKit parser conformance: line info", () => {
  it("spans lines 5..31 with three instructions", () => {
    const ast = parseDockerfile(readFileSync(path.join(root, "_line-info", "Dockerfile")));
    expect([ast.startLine, ast.endLine]).toEqual([5, 31]);
    expect(ast.instructions.map((i) => [i.startLine, i.endLine])).toEqual([
      [5, 5],
      [11, 12],
      [17, 31],
    ]);
    expect(ast.directives).toEqual([{ name: "escape", value: "\\", line: 1 }]);
  });
});
