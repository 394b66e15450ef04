import { describe, expect, it } from "vitest";
import {
  parseChmod,
  parseDockerfile,
  parseExposePort,
  parseFlags,
  parseGoDuration,
  parseInstruction,
  parseRunMount,
  parseStages,
  parseStopSignal,
  type TypedInstruction,
  ValueError,
} from "../src/dockerfile/index.js";
import { CairnError, isCairnError } from "../src/errors/index.js";

function typed(line: string): TypedInstruction {
  const ins = parseDockerfile(line).instructions[0];
  if (!ins) throw new Error("no instruction");
  return parseInstruction(ins);
}

function typedError(line: string): CairnError {
  try {
    typed(line);
  } catch (err) {
    if (isCairnError(err)) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(line)} to be rejected`);
}

describe("parseInstruction: typed instructions", () => {
  it("FROM with platform and stage name", () => {
    expect(typed("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build")).toMatchObject({
      kind: "FROM",
      image: "golang:1.22",
      stageName: "build",
      platform: "$BUILDPLATFORM",
    });
  });
  it("COPY with flags, heredoc sources and exclude", () => {
    const ast = parseDockerfile(
      "COPY --from=build --chown=1:1 --chmod=0755 --link --exclude=*.md --exclude=x <<A src/ /dst/\nhello\nA\n",
    );
    expect(parseInstruction(ast.instructions[0] as never)).toMatchObject({
      kind: "COPY",
      from: "build",
      chown: "1:1",
      chmod: "0755",
      link: true,
      parents: false,
      exclude: ["*.md", "x"],
      sources: ["src/"],
      contents: [{ name: "A", data: "hello\n", expand: true }],
      dest: "/dst/",
    });
  });
  it("ADD options", () => {
    expect(typed("ADD --keep-git-dir --checksum=sha256:abc --unpack=false https://x/y.tar /y")).toMatchObject(
      {
        kind: "ADD",
        keepGitDir: true,
        checksum: "sha256:abc",
        unpack: false,
        sources: ["https://x/y.tar"],
      },
    );
  });
  it("RUN, CMD and ENTRYPOINT forms", () => {
    expect(typed("RUN --mount=type=cache,target=/c --network=none echo hi")).toMatchObject({
      kind: "RUN",
      command: ["echo hi"],
      shellForm: true,
      mounts: ["type=cache,target=/c"],
      network: "none",
    });
    expect(typed('CMD ["a", "b"]')).toMatchObject({ kind: "CMD", command: ["a", "b"], shellForm: false });
    expect(typed("ENTRYPOINT run.sh")).toMatchObject({
      kind: "ENTRYPOINT",
      command: ["run.sh"],
      shellForm: true,
    });
  });
  it("ENV, LABEL and ARG pairs", () => {
    expect(typed("ENV a=1 b=2")).toMatchObject({
      pairs: [
        { key: "a", value: "1" },
        { key: "b", value: "2" },
      ],
    });
    expect(typed("ENV legacy value with spaces")).toMatchObject({
      pairs: [{ key: "legacy", value: "value with spaces" }],
    });
    expect(typed('LABEL "a b"=c')).toMatchObject({ pairs: [{ key: '"a b"', value: "c" }] });
    expect(typed("ARG a b=2 c=")).toMatchObject({
      args: [{ key: "a" }, { key: "b", value: "2" }, { key: "c", value: "" }],
    });
  });
  it("HEALTHCHECK durations in nanoseconds", () => {
    expect(
      typed("HEALTHCHECK --interval=5s --timeout=1m30s --start-period=0s --retries=3 CMD curl -f x"),
    ).toEqual(
      expect.objectContaining({
        test: ["CMD-SHELL", "curl -f x"],
        interval: 5e9,
        timeout: 90e9,
        startPeriod: 0,
        retries: 3,
      }),
    );
    expect(typed('HEALTHCHECK CMD ["curl", "x"]')).toMatchObject({ test: ["CMD", "curl", "x"] });
    expect(typed("HEALTHCHECK NONE")).toMatchObject({ test: ["NONE"] });
  });
  it("ONBUILD keeps the trigger text", () => {
    expect(typed("ONBUILD RUN make")).toMatchObject({ kind: "ONBUILD", expression: "RUN make" });
  });
});

describe("parseInstruction: validation errors", () => {
  const cases: Array<[string, RegExp]> = [
    ["FORM alpine", /unknown instruction: FORM \(did you mean from\?\)/],
    ["FROM", /FROM requires either one or three arguments/],
    ["FROM a b", /FROM requires either one or three arguments/],
    ["FROM a AS 1x", /invalid name for build stage: "1x"/],
    ["FROM --platfrom=linux/amd64 a", /unknown flag: platfrom \(did you mean platform\?\)/],
    ["COPY a", /COPY requires at least two arguments, but only one was provided/],
    ["COPY --chmod=888 a b", /invalid chmod parameter: 888/],
    ["COPY --chmod a b", /missing a value on flag: chmod/],
    ["COPY --link=maybe a b", /expecting boolean value for flag link, not: maybe/],
    ["COPY --from=a --from=b x y", /duplicate flag specified: from/],
    ["COPY a <<EOF\nEOF", /COPY cannot accept a heredoc as a destination/],
    ["ADD --from=x a b", /unknown flag: from/],
    ["WORKDIR", /WORKDIR requires exactly one argument/],
    ["USER --x=1 me", /unknown flag: x/],
    ["EXPOSE", /EXPOSE requires at least one argument/],
    ["VOLUME []", /VOLUME requires at least one argument/],
    ['VOLUME [""]', /VOLUME specified can not be an empty string/],
    ["ENV", /ENV requires at least one argument/],
    ["ARG =x", /ARG names can not be blank/],
    ["ARG", /ARG requires at least one argument/],
    ["SHELL /bin/bash -c", /SHELL requires the arguments to be in JSON form/],
    ["HEALTHCHECK --interval=5 CMD x", /missing unit in duration/],
    ["HEALTHCHECK --interval=1x CMD x", /unknown unit "x"/],
    ["HEALTHCHECK --timeout=500us CMD x", /Interval "timeout" cannot be less than 1ms/],
    ["HEALTHCHECK --retries=-1 CMD x", /--retries cannot be negative/],
    ["HEALTHCHECK --retries=x CMD x", /invalid --retries value/],
    ["HEALTHCHECK CMD", /Missing command after HEALTHCHECK CMD/],
    ["HEALTHCHECK TEST x", /Unknown type "TEST" in HEALTHCHECK/],
    ["HEALTHCHECK NONE x", /HEALTHCHECK NONE takes no arguments/],
    ["HEALTHCHECK --interval=1s NONE", /unknown flag: interval/],
    ["ONBUILD ONBUILD RUN x", /Chaining ONBUILD/],
    ["ONBUILD FROM x", /FROM isn't allowed as an ONBUILD trigger/],
    ["ONBUILD COPY a", /COPY requires at least two arguments/],
    ["RUN --network=bridge x", /unsupported network mode "bridge"/],
    ["RUN --mount=type=nfs,target=/x x", /unsupported mount type "nfs"/],
    ["RUN --mount=type=cache x", /mount type cache requires a target/],
    ["RUN --mount=type=bind,target=/x,color=red x", /unexpected key 'color'/],
    ["RUN", /RUN requires at least one argument/],
  ];
  for (const [line, message] of cases) {
    it(line, () => {
      const err = typedError(line);
      expect(err.code).toBe("E_DOCKERFILE_SYNTAX");
      expect(err.message).toMatch(message);
      expect(err.message).toMatch(/^Dockerfile line 1, column \d+: /);
      expect(err.message).toMatch(/expected /);
    });
  }
  it("points the column at the offending flag or value", () => {
    expect(typedError("COPY   --chmod=9 a b").details).toMatchObject({ line: 1, column: 16 });
    expect(typedError("FROM a AS 1x").details).toMatchObject({ column: 11 });
  });
  it("requires FROM before other instructions", () => {
    let err: unknown;
    try {
      parseStages(parseDockerfile("ARG x\nRUN y\nFROM a\n"));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).message).toMatch(
      /^Dockerfile line 2, column 1: no build stage in current context/,
    );
  });
  it("splits stages and global ARGs", () => {
    const s = parseStages(parseDockerfile("ARG A=1\nFROM a AS one\nRUN x\nFROM one\nCOPY . .\n"));
    expect(s.globalArgs.map((a) => a.args)).toEqual([[{ key: "A", value: "1" }]]);
    expect(s.stages.map((st) => [st.from.stageName, st.instructions.map((i) => i.kind)])).toEqual([
      ["one", ["RUN"]],
      [undefined, ["COPY"]],
    ]);
  });
});

describe("value checks", () => {
  it("Go durations", () => {
    expect(parseGoDuration("0")).toBe(0);
    expect(parseGoDuration("1h2m3.5s")).toBe(3723.5e9);
    expect(parseGoDuration("1.5ms")).toBe(1_500_000);
    expect(parseGoDuration("-2s")).toBe(-2e9);
    expect(parseGoDuration("10µs")).toBe(10_000);
    for (const bad of ["", "s", "1", ".s", "1e3s", "5 s", "9999999999999999999h"]) {
      expect(() => parseGoDuration(bad)).toThrow(ValueError);
    }
  });
  it("stop signals", () => {
    expect(parseStopSignal("SIGTERM")).toBe(15);
    expect(parseStopSignal("kill")).toBe(9);
    expect(parseStopSignal("SIGRTMIN+3")).toBe(37);
    expect(parseStopSignal("RTMAX-1")).toBe(63);
    expect(parseStopSignal("9")).toBe(9);
    for (const bad of ["0", "65", "SIGFOO", "RTMIN+20", "-1", ""])
      expect(() => parseStopSignal(bad)).toThrow(ValueError);
  });
  it("EXPOSE ports", () => {
    expect(parseExposePort("80").ports).toEqual(["80/tcp"]);
    expect(parseExposePort("53/UDP").ports).toEqual(["53/udp"]);
    expect(parseExposePort("7000-7002/sctp").ports).toEqual(["7000/sctp", "7001/sctp", "7002/sctp"]);
    expect(parseExposePort("8080:80")).toEqual({ ports: ["80/tcp"], hostPartIgnored: true });
    expect(() => parseExposePort("80/icmp")).toThrow(/invalid proto: icmp/);
    expect(() => parseExposePort("70000")).toThrow(/invalid port/);
    expect(() => parseExposePort("90-80")).toThrow(/invalid range specified for port: 90-80/);
    expect(() => parseExposePort("http")).toThrow(ValueError);
  });
  it("chmod modes", () => {
    expect(parseChmod("755")).toBe(0o755);
    expect(parseChmod("07777")).toBe(0o7777);
    expect(parseChmod("u=rwx,go=rx")).toBeUndefined();
    expect(parseChmod("a+X")).toBeUndefined();
    for (const bad of ["", "8", "17777", "rwx", "u=rwq", "0x1ff"])
      expect(() => parseChmod(bad)).toThrow(ValueError);
  });
  it("flags", () => {
    expect(
      parseFlags(
        ["--a=1", "--b", "--c=x", "--c=y", "--", "--ignored"],
        { a: "string", b: "bool", c: "strings" },
        "X",
      ),
    ).toEqual({
      a: "1",
      b: true,
      c: ["x", "y"],
    });
  });
  it("RUN mounts", () => {
    expect(parseRunMount("type=secret,id=npmrc")).toMatchObject({
      type: "secret",
      id: "npmrc",
      target: "/run/secrets/npmrc",
    });
    expect(parseRunMount("type=ssh")).toMatchObject({ type: "ssh", id: "default" });
    expect(parseRunMount("target=/src,from=build,source=/out,rw")).toMatchObject({
      type: "bind",
      from: "build",
      source: "/out",
      target: "/src",
      readonly: false,
    });
    expect(parseRunMount('type=tmpfs,"target=/a,b",size=64m')).toMatchObject({
      target: "/a,b",
      size: 64 * 1024 * 1024,
    });
    expect(
      parseRunMount("type=cache,target=$D,sharing=locked,mode=0700,uid=1", (w) => w.replace("$D", "/d")),
    ).toMatchObject({
      target: "/d",
      id: "/d",
      sharing: "locked",
      mode: 0o700,
      uid: 1,
    });
  });
});
