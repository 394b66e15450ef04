import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createHasher,
  digestBytes,
  digestOf,
  formatDigest,
  isDigest,
  isDigestSyntax,
  parseDigest,
  sizeCheckedChunks,
  VerifyingStream,
  verifyBytes,
  verifyChunks,
} from "../src/digest/index.js";
import { isCairnError } from "../src/errors/index.js";

const EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const EMPTY_SHA512 =
  "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isCairnError(e) ? e.code : "not-cairn";
  }
  return undefined;
}

describe("parseDigest", () => {
  it("parses sha256 and sha512", () => {
    expect(parseDigest(EMPTY_SHA256)).toEqual({ algorithm: "sha256", hex: EMPTY_SHA256.slice(7) });
    expect(parseDigest(EMPTY_SHA512).algorithm).toBe("sha512");
  });

  it.each([
    ["", "no colon"],
    ["sha256", "no colon"],
    ["sha256:", "empty hex"],
    ["md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported algorithm"],
    ["sha256:abc", "short"],
    [`sha256:${"a".repeat(65)}`, "long"],
    [EMPTY_SHA256.toUpperCase(), "uppercase algorithm"],
    [`sha256:${EMPTY_SHA256.slice(7).toUpperCase()}`, "uppercase hex"],
    [`sha256:${"g".repeat(64)}`, "non-hex"],
    [`sha512:${"a".repeat(64)}`, "sha512 with sha256 length"],
    [` ${EMPTY_SHA256}`, "leading space"],
  ])("rejects %j (%s) with E_DIGEST_INVALID", (s) => {
    expect(codeOf(() => parseDigest(s))).toBe("E_DIGEST_INVALID");
    expect(isDigest(s)).toBe(false);
  });

  it("names the problem in the message", () => {
    expect(() => parseDigest("sha256:abc")).toThrow(/64 hex characters, found 3/);
    expect(() => parseDigest("md5:abc")).toThrow(/unsupported algorithm "md5"/);
  });

  it("rejects non-strings", () => {
    expect(codeOf(() => parseDigest(42 as unknown as string))).toBe("E_DIGEST_INVALID");
    expect(isDigest(null)).toBe(false);
  });

  it("isDigestSyntax admits unregistered algorithms but keeps registered ones strict", () => {
    expect(isDigestSyntax("sha384:abc")).toBe(true);
    expect(isDigestSyntax("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8")).toBe(true);
    expect(isDigestSyntax("sha256:abc")).toBe(false);
    expect(isDigestSyntax("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564")).toBe(true);
    expect(isDigestSyntax("sha256++b64u:x")).toBe(false);
    expect(isDigestSyntax(":abc")).toBe(false);
  });
});

describe("formatDigest", () => {
  it("round-trips parse(format(x)) for any valid digest", () => {
    const hex = (n: number) =>
      fc.string({ unit: fc.constantFrom(..."0123456789abcdef".split("")), minLength: n, maxLength: n });
    const parts = fc.oneof(
      hex(64).map((h) => ({ algorithm: "sha256" as const, hex: h })),
      hex(128).map((h) => ({ algorithm: "sha512" as const, hex: h })),
    );
    fc.assert(
      fc.property(parts, (p) => {
        const s = formatDigest(p);
        expect(parseDigest(s)).toEqual(p);
        expect(formatDigest(parseDigest(s))).toBe(s);
      }),
    );
  });

  it("refuses invalid parts", () => {
    expect(codeOf(() => formatDigest({ algorithm: "sha256", hex: "xyz" }))).toBe("E_DIGEST_INVALID");
  });
});

describe("hashing", () => {
  it("hashes bytes, strings and streams alike", async () => {
    expect(digestBytes("")).toBe(EMPTY_SHA256);
    expect(digestBytes("", "sha512")).toBe(EMPTY_SHA512);
    const data = new TextEncoder().encode("hello cairn");
    const want = `sha256:${createHash("sha256").update(data).digest("hex")}`;
    expect(await digestOf(data)).toBe(want);
    expect(await digestOf("hello cairn")).toBe(want);
    expect(await digestOf(Readable.from([Buffer.from("hello "), Buffer.from("cairn")]))).toBe(want);
  });

  it("the @noble/hashes fallback agrees with node:crypto", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.constantFrom("sha256", "sha512"), (bytes, alg) => {
        const a = createHasher(alg as "sha256");
        const b = createHasher(alg as "sha256", "noble");
        a.update(bytes);
        b.update(bytes);
        expect(b.hex()).toBe(a.hex());
      }),
      { numRuns: 50 },
    );
  });
});

describe("verification", () => {
  const data = Buffer.from("some blob bytes");
  const digest = digestBytes(data);

  async function runStream(chunks: Buffer[], expected: { digest: string; size?: number }) {
    const out: Buffer[] = [];
    await pipeline(Readable.from(chunks), new VerifyingStream(expected), async (src) => {
      for await (const c of src) out.push(c as Buffer);
    });
    return Buffer.concat(out);
  }

  it("passes good bytes through unchanged", async () => {
    const got = await runStream([data.subarray(0, 4), data.subarray(4)], { digest, size: data.length });
    expect(got.equals(data)).toBe(true);
  });

  it("fails with E_DIGEST_MISMATCH naming both digests", async () => {
    const bad = Buffer.from("some blob bytez");
    await expect(runStream([bad], { digest })).rejects.toMatchObject({
      code: "E_DIGEST_MISMATCH",
      message: expect.stringContaining(digestBytes(bad)),
    });
  });

  it("fails with E_SIZE_MISMATCH when short or long", async () => {
    await expect(runStream([data.subarray(0, 5)], { digest, size: data.length })).rejects.toMatchObject({
      code: "E_SIZE_MISMATCH",
    });
    await expect(runStream([data, data], { digest, size: data.length })).rejects.toMatchObject({
      code: "E_SIZE_MISMATCH",
    });
  });

  it("sizeCheckedChunks passes the bytes through and checks only their size", async () => {
    const drain = async (chunks: Uint8Array[], size: number) => {
      const out: Uint8Array[] = [];
      for await (const c of sizeCheckedChunks(Readable.from(chunks), { digest: EMPTY_SHA256, size }))
        out.push(c);
      return Buffer.concat(out);
    };
    // the digest is not checked: EMPTY_SHA256 does not name these bytes
    expect((await drain([data.subarray(0, 2), data.subarray(2)], data.length)).equals(data)).toBe(true);
    await expect(drain([data], data.length - 1)).rejects.toMatchObject({ code: "E_SIZE_MISMATCH" });
    await expect(drain([data], data.length + 1)).rejects.toMatchObject({ code: "E_SIZE_MISMATCH" });
  });

  it("verifyChunks and verifyBytes check the same way", async () => {
    const collected: Uint8Array[] = [];
    for await (const c of verifyChunks(Readable.from([data]), { digest, size: data.length }))
      collected.push(c);
    expect(Buffer.concat(collected).equals(data)).toBe(true);
    await expect(async () => {
      for await (const _ of verifyChunks(Readable.from([data]), { digest: EMPTY_SHA256 })) {
        // drain
      }
    }).rejects.toMatchObject({ code: "E_DIGEST_MISMATCH" });
    expect(() => verifyBytes(data, { digest, size: data.length })).not.toThrow();
    expect(codeOf(() => verifyBytes(data, { digest, size: 3 }))).toBe("E_SIZE_MISMATCH");
    expect(codeOf(() => verifyBytes(data, { digest: EMPTY_SHA256, source: "blob x" }))).toBe(
      "E_DIGEST_MISMATCH",
    );
  });
});
