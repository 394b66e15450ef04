import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type CairnError, isCairnError } from "../src/errors/index.js";
import {
  compatiblePlatforms,
  type Descriptor,
  describePlatform,
  formatPlatform,
  hostPlatform,
  MediaType,
  normalizePlatform,
  type Platform,
  parsePlatform,
  platformFromNode,
  platformMatches,
  platformRank,
  selectManifest,
} from "../src/manifest/index.js";

function caught(run: () => unknown): CairnError {
  try {
    run();
  } catch (err) {
    if (isCairnError(err)) return err;
    throw err;
  }
  throw new Error("expected a CairnError");
}

const p = (os: string, architecture: string, variant?: string): Platform =>
  variant === undefined ? { os, architecture } : { os, architecture, variant };

describe("normalizePlatform", () => {
  it.each([
    [p("linux", "x86_64"), p("linux", "amd64")],
    [p("linux", "x86-64"), p("linux", "amd64")],
    [p("linux", "AMD64", "V1"), p("linux", "amd64")],
    [p("linux", "amd64", "v3"), p("linux", "amd64", "v3")],
    [p("linux", "i386"), p("linux", "386")],
    [p("linux", "i686", "whatever"), p("linux", "386")],
    [p("linux", "aarch64"), p("linux", "arm64")],
    [p("linux", "arm64", "v8"), p("linux", "arm64")],
    [p("linux", "arm64", "8"), p("linux", "arm64")],
    [p("linux", "arm64", "v8.0"), p("linux", "arm64")],
    [p("linux", "arm64", "v8.2"), p("linux", "arm64", "v8.2")],
    [p("linux", "arm64", "9"), p("linux", "arm64", "v9")],
    [p("linux", "aarch64", "v9.0"), p("linux", "arm64", "v9")],
    [p("linux", "armhf"), p("linux", "arm", "v7")],
    [p("linux", "armel"), p("linux", "arm", "v6")],
    [p("linux", "arm"), p("linux", "arm", "v7")],
    [p("linux", "arm", "7"), p("linux", "arm", "v7")],
    [p("linux", "arm", "5"), p("linux", "arm", "v5")],
    [p("linux", "arm", "6"), p("linux", "arm", "v6")],
    [p("linux", "arm", "8"), p("linux", "arm", "v8")],
    [p("linux", "arm", "V6"), p("linux", "arm", "v6")],
    [p("Linux", "amd64"), p("linux", "amd64")],
    [p("macos", "arm64"), p("darwin", "arm64")],
    [p("MacOS", "x86_64"), p("darwin", "amd64")],
    [p("linux", "riscv64", ""), p("linux", "riscv64")],
    [p("linux", "ppc64le"), p("linux", "ppc64le")],
  ])("%j -> %j", (input, want) => {
    expect(normalizePlatform(input)).toEqual(want);
  });

  it("keeps os.version, os.features and features, and is idempotent", () => {
    const win = {
      os: "Windows",
      architecture: "x86_64",
      "os.version": "10.0.17763.1",
      "os.features": ["win32k"],
    };
    const n = normalizePlatform(win);
    expect(n).toEqual({
      os: "windows",
      architecture: "amd64",
      "os.version": "10.0.17763.1",
      "os.features": ["win32k"],
    });
    expect(normalizePlatform(n)).toEqual(n);
  });
});

describe("parsePlatform / formatPlatform", () => {
  it.each([
    ["linux/amd64", p("linux", "amd64")],
    ["linux/arm64/v8", p("linux", "arm64")],
    ["linux/arm/v7", p("linux", "arm", "v7")],
    ["linux/arm", p("linux", "arm", "v7")],
    ["linux/armhf", p("linux", "arm", "v7")],
    ["linux/x86_64/v1", p("linux", "amd64")],
    ["LINUX/AMD64/V3", p("linux", "amd64", "v3")],
    [
      "windows/amd64:10.0.17763.1234",
      { os: "windows", architecture: "amd64", "os.version": "10.0.17763.1234" },
    ],
    ["windows(10.0.20348)/amd64", { os: "windows", architecture: "amd64", "os.version": "10.0.20348" }],
  ])("parses %s", (spec, want) => {
    expect(parsePlatform(spec)).toEqual(want);
  });

  it.each([
    "",
    "linux",
    "amd64",
    "linux/",
    "/amd64",
    "linux//v7",
    "linux/arm/v7/extra",
    "linux/amd64:",
    "linux/amd64:10:1",
    "linux/*",
    "linux/am d64",
    "windows(1)/amd64:2",
  ])("rejects %j with E_PLATFORM_INVALID", (spec) => {
    const err = caught(() => parsePlatform(spec));
    expect(err.code).toBe("E_PLATFORM_INVALID");
    expect(err.message).toContain(JSON.stringify(spec));
  });

  it("formats platforms", () => {
    expect(formatPlatform(p("linux", "amd64"))).toBe("linux/amd64");
    expect(formatPlatform(p("linux", "arm", "v7"))).toBe("linux/arm/v7");
    expect(formatPlatform({ os: "windows", architecture: "amd64", "os.version": "10.0.1" })).toBe(
      "windows/amd64:10.0.1",
    );
    expect(caught(() => formatPlatform(p("linux", "amd/64"))).code).toBe("E_PLATFORM_INVALID");
    expect(caught(() => formatPlatform(p("", "amd64"))).code).toBe("E_PLATFORM_INVALID");
    expect(describePlatform(undefined)).toBe("(no platform)");
  });

  const component = fc.stringMatching(/^[a-z0-9_.-]{1,12}$/);
  const platformArb = fc
    .record(
      {
        os: fc.oneof(component, fc.constantFrom("linux", "windows", "darwin", "macos", "freebsd")),
        architecture: fc.oneof(
          component,
          fc.constantFrom(
            "amd64",
            "x86_64",
            "arm",
            "arm64",
            "aarch64",
            "armhf",
            "armel",
            "i386",
            "386",
            "riscv64",
          ),
        ),
        variant: fc.oneof(component, fc.constantFrom("v5", "v6", "v7", "v8", "v8.2", "9", "v1", "v3")),
        "os.version": fc.stringMatching(/^[A-Za-z0-9_.-]{1,16}$/),
      },
      { requiredKeys: ["os", "architecture"] },
    )
    .map((raw) => normalizePlatform(raw));

  it("round-trips parsePlatform(formatPlatform(p)) for normalized platforms", () => {
    fc.assert(
      fc.property(platformArb, (platform) => {
        expect(parsePlatform(formatPlatform(platform))).toEqual(platform);
      }),
      { numRuns: 500 },
    );
  });

  it("normalization is idempotent", () => {
    fc.assert(
      fc.property(platformArb, (platform) => {
        expect(normalizePlatform(platform)).toEqual(platform);
      }),
    );
  });
});

describe("hostPlatform", () => {
  it("maps Node's names to OCI names", () => {
    expect(platformFromNode("linux", "x64")).toEqual(p("linux", "amd64"));
    expect(platformFromNode("darwin", "arm64")).toEqual(p("darwin", "arm64"));
    expect(platformFromNode("win32", "ia32")).toEqual(p("windows", "386"));
    expect(platformFromNode("linux", "arm", "6")).toEqual(p("linux", "arm", "v6"));
    expect(platformFromNode("linux", "arm")).toEqual(p("linux", "arm", "v7"));
    expect(platformFromNode("linux", "ppc64")).toEqual(p("linux", "ppc64le"));
    expect(platformFromNode("aix", "ppc64")).toEqual(p("aix", "ppc64"));
    expect(platformFromNode("linux", "mipsel")).toEqual(p("linux", "mipsle"));
    expect(platformFromNode("sunos", "x64")).toEqual(p("solaris", "amd64"));
  });

  it("describes this process", () => {
    const host = hostPlatform();
    expect(host).toEqual(platformFromNode(process.platform, process.arch, host.variant?.slice(1)));
    expect(parsePlatform(formatPlatform(host))).toEqual(host);
  });
});

describe("platformMatches", () => {
  it.each([
    ["linux/arm/v7", p("linux", "arm", "v7"), true],
    ["linux/arm/v7", p("linux", "arm"), true],
    ["linux/arm/v7", p("linux", "arm", "v6"), true],
    ["linux/arm/v7", p("linux", "arm", "v5"), true],
    ["linux/arm/v7", p("linux", "arm", "v8"), false],
    ["linux/arm/v6", p("linux", "arm", "v7"), false],
    ["linux/arm64/v8", p("linux", "arm64"), true],
    ["linux/arm64", p("linux", "arm64", "v8"), true],
    ["linux/arm64", p("linux", "aarch64"), true],
    ["linux/arm64", p("linux", "arm", "v7"), true],
    ["linux/arm64", p("linux", "arm64", "v8.2"), false],
    ["linux/arm64/v8.2", p("linux", "arm64", "v8.1"), true],
    ["linux/arm64/v9", p("linux", "arm64", "v8.5"), true],
    ["linux/arm64/v9", p("linux", "arm64", "v8.6"), false],
    ["linux/amd64/v3", p("linux", "amd64", "v2"), true],
    ["linux/amd64/v3", p("linux", "amd64"), true],
    ["linux/amd64/v3", p("linux", "amd64", "v4"), false],
    ["linux/amd64", p("linux", "amd64", "v2"), false],
    ["linux/amd64", p("linux", "386"), true],
    ["linux/amd64", p("Linux", "x86_64"), true],
    ["linux/amd64", p("windows", "amd64"), false],
    ["linux/386", p("linux", "amd64"), false],
    ["linux/riscv64", p("linux", "riscv64"), true],
  ])("%s runs %j: %s", (want, have, ok) => {
    expect(platformMatches(want, have)).toBe(ok);
  });

  it("matches Windows images only on the same build", () => {
    const host = parsePlatform("windows/amd64:10.0.17763.5000");
    expect(
      platformMatches(host, { os: "windows", architecture: "amd64", "os.version": "10.0.17763.1" }),
    ).toBe(true);
    expect(
      platformMatches(host, { os: "windows", architecture: "amd64", "os.version": "10.0.20348.1" }),
    ).toBe(false);
    expect(platformMatches(host, { os: "windows", architecture: "amd64" })).toBe(true);
  });

  it("orders fallbacks best first", () => {
    expect(compatiblePlatforms(parsePlatform("linux/arm/v7")).map(formatPlatform)).toEqual([
      "linux/arm/v7",
      "linux/arm/v6",
      "linux/arm/v5",
    ]);
    expect(compatiblePlatforms(parsePlatform("linux/amd64/v3")).map(formatPlatform)).toEqual([
      "linux/amd64/v3",
      "linux/amd64/v2",
      "linux/amd64",
      "linux/386",
    ]);
    expect(compatiblePlatforms(parsePlatform("linux/arm64")).map(formatPlatform)).toEqual([
      "linux/arm64",
      "linux/arm/v8",
      "linux/arm/v7",
      "linux/arm/v6",
      "linux/arm/v5",
    ]);
    expect(platformRank(parsePlatform("linux/arm/v7"), p("linux", "arm", "v6"))).toBe(1);
    expect(platformRank(parsePlatform("linux/arm/v7"), { os: 1 } as never)).toBeUndefined();
  });
});

describe("selectManifest", () => {
  const D = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}` as const;
  const entry = (n: number, platform?: Platform): Descriptor => ({
    mediaType: MediaType.ociManifest,
    digest: D(n),
    size: 100,
    ...(platform ? { platform } : {}),
  });
  const index = {
    schemaVersion: 2 as const,
    mediaType: MediaType.ociIndex,
    manifests: [
      entry(1, p("linux", "amd64")),
      entry(2, p("linux", "arm", "v5")),
      entry(3, p("linux", "arm", "v6")),
      entry(4, p("linux", "arm64", "v8")),
      entry(5, { os: "unknown", architecture: "unknown" }),
      entry(6),
      entry(7, p("linux", "arm", "v7")),
    ],
  };

  it("prefers the exact variant over fallbacks, wherever it is in the index", () => {
    expect(selectManifest(index, "linux/arm/v7").digest).toBe(D(7));
    expect(selectManifest(index, "linux/arm64").digest).toBe(D(4));
    expect(selectManifest(index, p("linux", "aarch64")).digest).toBe(D(4));
    expect(selectManifest(index, "linux/amd64").digest).toBe(D(1));
  });

  it("falls back to the closest compatible variant", () => {
    const noV7 = { manifests: index.manifests.filter((d) => d.digest !== D(7)) };
    expect(selectManifest(noV7, "linux/arm/v7").digest).toBe(D(3));
    expect(selectManifest(noV7, "linux/arm/v6").digest).toBe(D(3));
    expect(selectManifest({ manifests: [entry(1, p("linux", "arm", "v5"))] }, "linux/arm/v7").digest).toBe(
      D(1),
    );
    expect(selectManifest(index, "linux/amd64/v3").digest).toBe(D(1));
    expect(selectManifest({ manifests: [entry(9, p("linux", "arm", "v7"))] }, "linux/arm64").digest).toBe(
      D(9),
    );
  });

  it("takes the first of equal matches, preferring an exact Windows os.version", () => {
    const win = (n: number, v: string) => entry(n, { os: "windows", architecture: "amd64", "os.version": v });
    const wins = { manifests: [win(1, "10.0.17763.100"), win(2, "10.0.17763.200"), win(3, "10.0.20348.1")] };
    expect(selectManifest(wins, "windows/amd64:10.0.17763.200").digest).toBe(D(2));
    expect(selectManifest(wins, "windows/amd64:10.0.17763.999").digest).toBe(D(1));
    expect(selectManifest(wins, "windows/amd64:10.0.20348.5").digest).toBe(D(3));
    expect(
      selectManifest(
        { manifests: [entry(1, p("linux", "amd64")), entry(2, p("linux", "amd64"))] },
        "linux/amd64",
      ).digest,
    ).toBe(D(1));
  });

  it("fails with E_PLATFORM_NOT_FOUND listing what the index has", () => {
    const err = caught(() => selectManifest(index, "linux/riscv64"));
    expect(err.code).toBe("E_PLATFORM_NOT_FOUND");
    expect(err.message).toContain("linux/riscv64");
    expect(err.message).toContain(
      "linux/amd64, linux/arm/v5, linux/arm/v6, linux/arm64/v8, unknown/unknown, (no platform), linux/arm/v7",
    );
    expect(err.details?.["available"]).toHaveLength(7);
    expect(caught(() => selectManifest({ manifests: [] }, "linux/amd64")).message).toContain(
      "no manifests at all",
    );
  });

  it("refuses a malformed platform string", () => {
    expect(caught(() => selectManifest(index, "arm64")).code).toBe("E_PLATFORM_INVALID");
  });
});
