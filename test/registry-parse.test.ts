import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { basicAuth, parseTokenResponse } from "../src/registry/auth.js";
import { authKeyCandidates, authKeyFor, findKeyed, normalizeAuthKey } from "../src/registry/auth-file.js";
import {
  type Challenge,
  formatChallenge,
  parseChallenges,
  pickChallenge,
} from "../src/registry/challenge.js";
import { referrersTag } from "../src/registry/client.js";
import { decodeAuthEntry } from "../src/registry/credentials.js";
import { parseErrorBody } from "../src/registry/errors.js";
import {
  nextLink,
  parseContentRange,
  parseUploadRange,
  uploadContentRange,
} from "../src/registry/headers.js";
import {
  backoffDelay,
  isRetryableNetworkError,
  isRetryableStatus,
  parseRetryAfter,
  retryPolicy,
} from "../src/registry/retry.js";
import { mergeScopes, scopesCover } from "../src/registry/scope.js";
import { registrySchemes } from "../src/registry/tls.js";
import { withDigest } from "../src/registry/upload.js";

describe("WWW-Authenticate", () => {
  test("a Bearer challenge as registries send it", () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      ),
    ).toEqual([
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:library/alpine:pull",
        },
      },
    ]);
  });

  test("several challenges, escapes, commas in quotes, token68, case and spacing", () => {
    const got = parseChallenges([
      'Basic realm="a \\"quoted\\", realm" , BEARER Realm = "https://x/t?a=1,b=2" ,error=insufficient_scope',
      "Negotiate abc123==, Basic realm=plain",
    ]);
    expect(got).toEqual([
      { scheme: "basic", params: { realm: 'a "quoted", realm' } },
      { scheme: "bearer", params: { realm: "https://x/t?a=1,b=2", error: "insufficient_scope" } },
      { scheme: "negotiate", params: {}, token68: "abc123==" },
      { scheme: "basic", params: { realm: "plain" } },
    ]);
    expect(pickChallenge(got)?.scheme).toBe("bearer");
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges(",,, =junk")).toEqual([]);
  });

  test("formatted challenges parse back to themselves", () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/);
    const value = fc
      .string({ maxLength: 30 })
      .filter((s) => [...s].every((c) => c.charCodeAt(0) >= 0x20 && c !== "\u007f"));
    const challenge = fc.record({
      scheme: fc.constantFrom("bearer", "basic", "digest"),
      params: fc.dictionary(name, value, { maxKeys: 5 }),
    });
    fc.assert(
      fc.property(fc.array(challenge, { minLength: 1, maxLength: 3 }), (cs: Challenge[]) => {
        const header = cs.map(formatChallenge).join(", ");
        expect(parseChallenges(header)).toEqual(
          cs.map((c) => ({ scheme: c.scheme, params: { ...c.params } })),
        );
      }),
    );
  });
});

describe("headers", () => {
  const base = new URL("http://r:5000/v2/a/tags/list?n=2");

  test("Link: the rel=next target, relative or absolute, among other links", () => {
    expect(nextLink(['</v2/a/tags/list?n=2&last=b>; rel="next"'], base)?.href).toBe(
      "http://r:5000/v2/a/tags/list?n=2&last=b",
    );
    expect(
      nextLink(['<https://o/x>; rel="prev"; title="a, b", <https://o/y?z=1>; rel="last next"'], base)?.href,
    ).toBe("https://o/y?z=1");
    expect(nextLink(["<https://o/x>; rel=next"], base)?.href).toBe("https://o/x");
    expect(nextLink(['<https://o/x>; rel="prev"'], base)).toBeUndefined();
    expect(nextLink([], base)).toBeUndefined();
  });

  test("upload and content ranges", () => {
    expect(parseUploadRange("0-1023")).toEqual({ start: 0, end: 1023 });
    expect(parseUploadRange("bytes=0-5")).toEqual({ start: 0, end: 5 });
    expect(parseUploadRange("5-1")).toBeUndefined();
    expect(parseUploadRange("x")).toBeUndefined();
    expect(parseContentRange("bytes 500-1499/5000")).toEqual({ start: 500, end: 1499, total: 5000 });
    expect(parseContentRange("bytes 500-1499/*")).toEqual({ start: 500, end: 1499, total: undefined });
    expect(parseContentRange("500-1499")).toBeUndefined();
    fc.assert(
      fc.property(fc.nat(1e12), fc.integer({ min: 1, max: 1e9 }), (offset, length) => {
        const r = parseUploadRange(uploadContentRange(offset, length));
        expect(r).toEqual({ start: offset, end: offset + length - 1 });
      }),
    );
  });

  test("an upload Location keeps its query byte for byte when the digest is added", () => {
    const d = `sha256:${"a".repeat(64)}`;
    expect(withDigest(new URL("http://r/v2/a/blobs/uploads/u?_state=A%2Bb%3D%3D&x=1"), d).search).toBe(
      `?_state=A%2Bb%3D%3D&x=1&digest=sha256%3A${"a".repeat(64)}`,
    );
    expect(withDigest(new URL("http://r/up/u"), d).search).toBe(`?digest=sha256%3A${"a".repeat(64)}`);
  });

  test("the referrers tag schema", () => {
    expect(referrersTag(`sha256:${"b".repeat(64)}`)).toBe(`sha256-${"b".repeat(64)}`);
    expect(referrersTag(`sha512:${"c".repeat(128)}`)).toHaveLength(128);
  });
});

describe("retry policy", () => {
  test("Retry-After in seconds or as a date", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter("-1")).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  test("which answers and errors are retried", () => {
    for (const s of [408, 429, 500, 502, 503, 504]) expect(isRetryableStatus(s)).toBe(true);
    for (const s of [400, 401, 403, 404, 416, 501]) expect(isRetryableStatus(s)).toBe(false);
    expect(isRetryableNetworkError(Object.assign(new Error("x"), { code: "ECONNRESET" }))).toBe(true);
    expect(isRetryableNetworkError(new Error("wrapped", { cause: { code: "UND_ERR_SOCKET" } }))).toBe(true);
    expect(
      isRetryableNetworkError(Object.assign(new Error("x"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" })),
    ).toBe(false);
  });

  test("backoff grows, is capped, and jitter only shortens it", () => {
    const policy = retryPolicy({ minDelayMs: 100, maxDelayMs: 1000 });
    fc.assert(
      fc.property(fc.nat(40), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (attempt, r) => {
        const d = backoffDelay(attempt, policy, () => r);
        const base = Math.min(1000, 100 * 2 ** attempt);
        expect(d).toBeLessThanOrEqual(base);
        expect(d).toBeGreaterThanOrEqual(Math.floor(base * 0.75));
      }),
    );
  });
});

describe("scopes", () => {
  test("merged per resource, sorted, and covering", () => {
    expect(
      mergeScopes(["repository:b:pull", "repository:a:push", "repository:a:pull", "registry:catalog:*"]),
    ).toEqual(["registry:catalog:*", "repository:a:pull,push", "repository:b:pull"]);
    expect(mergeScopes(["repository:a:pull repository:b:push"])).toEqual([
      "repository:a:pull",
      "repository:b:push",
    ]);
    expect(scopesCover(["repository:a:pull,push"], ["repository:a:pull"])).toBe(true);
    expect(scopesCover(["repository:a:*"], ["repository:a:delete"])).toBe(true);
    expect(scopesCover(["repository:a:pull"], ["repository:a:push"])).toBe(false);
    expect(scopesCover(["repository:a:pull"], ["repository:b:pull"])).toBe(false);
    expect(scopesCover([], [])).toBe(true);
  });
});

describe("auth keys and entries", () => {
  test("docker and podman keys name the same registries", () => {
    expect(normalizeAuthKey("https://index.docker.io/v1/")).toBe("docker.io");
    expect(normalizeAuthKey("registry-1.docker.io")).toBe("docker.io");
    expect(normalizeAuthKey("http://localhost:5000")).toBe("localhost:5000");
    expect(normalizeAuthKey("quay.io/org/app/")).toBe("quay.io/org/app");
    expect(authKeyFor("docker.io")).toBe("https://index.docker.io/v1/");
    expect(authKeyFor("ghcr.io")).toBe("ghcr.io");
    expect(authKeyCandidates("quay.io", "a/b")).toEqual(["quay.io/a/b", "quay.io/a", "quay.io"]);
    const map = { "quay.io": "host", "quay.io/a": "namespace", "https://index.docker.io/v1/": "hub" };
    expect(findKeyed(map, "quay.io", "a/b")?.value).toBe("namespace");
    expect(findKeyed(map, "quay.io", "c/d")?.value).toBe("host");
    expect(findKeyed(map, "docker.io", "library/alpine")?.value).toBe("hub");
    expect(findKeyed(map, "ghcr.io")).toBeUndefined();
  });

  test("auth entries decode to credentials", () => {
    const auth = Buffer.from("me:pa:ss").toString("base64");
    expect(decodeAuthEntry({ auth })).toEqual({ username: "me", password: "pa:ss" });
    expect(decodeAuthEntry({ auth, identitytoken: "rt" })).toEqual({ username: "me", identityToken: "rt" });
    expect(decodeAuthEntry({ registrytoken: "bt" })).toEqual({ registryToken: "bt" });
    expect(decodeAuthEntry({ username: "u", password: "p" })).toEqual({ username: "u", password: "p" });
    expect(decodeAuthEntry({})).toBeUndefined();
    expect(() => decodeAuthEntry({ auth: Buffer.from("nocolon").toString("base64") })).toThrow(
      /username:password/,
    );
  });
});

describe("token responses and errors", () => {
  test("token or access_token, expires_in, refresh_token", () => {
    const t = parseTokenResponse(
      '{"token":"a","access_token":"b","expires_in":100,"refresh_token":"r"}',
      [],
      0,
      "r",
    );
    expect(t).toEqual({ token: "b", scopes: [], expiresAt: 95_000, refreshToken: "r" });
    expect(parseTokenResponse('{"token":"a"}', ["s"], 1000, "r").expiresAt).toBe(1000 + 60_000 - 5000);
    for (const bad of ["not json", "{}", '{"token":""}', '{"token":"a\\nb"}']) {
      expect(() => parseTokenResponse(bad, [], 0, "reg")).toThrow(
        expect.objectContaining({ code: "E_AUTH" }),
      );
    }
    expect(basicAuth("me", "secret")).toBe("Basic bWU6c2VjcmV0");
  });

  test("registry error bodies", () => {
    expect(
      parseErrorBody('{"errors":[{"code":"DENIED","message":"no","detail":{"x":1}},{"nocode":1}]}'),
    ).toEqual([{ code: "DENIED", message: "no", detail: { x: 1 } }]);
    expect(parseErrorBody("<html>502</html>")).toEqual([]);
    expect(parseErrorBody('{"errors":"x"}')).toEqual([]);
  });

  test("schemes by host and options", () => {
    expect(registrySchemes("localhost:5000", {})).toEqual(["http", "https"]);
    expect(registrySchemes("127.0.0.1:5000", { caFile: "/ca.pem" })).toEqual(["https"]);
    expect(registrySchemes("ghcr.io", {})).toEqual(["https"]);
    expect(registrySchemes("ghcr.io", { insecure: true })).toEqual(["https", "http"]);
    expect(registrySchemes("ghcr.io", { plainHttp: true })).toEqual(["http"]);
    expect(isCairnError(new Error("x"))).toBe(false);
  });
});
