import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CairnError, isCairnError } from "../src/errors/index.js";
import {
  DEFAULT_DOMAIN,
  DOCKER_HUB_REGISTRY_URL,
  isLoopbackHost,
  isValidTag,
  MAX_NAME_LENGTH,
  normalizeDomain,
  parseReference,
  Reference,
  type ReferencePart,
  tryParseReference,
} from "../src/reference/index.js";

const SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SHA256_F = `sha256:${"f".repeat(64)}`;
const SHA512_F = `sha512:${"f".repeat(128)}`;
const HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";

/** Parses `input` expecting failure; returns the error. */
function parseError(input: string, options?: { defaultTag?: boolean }): CairnError {
  try {
    parseReference(input, options);
  } catch (err) {
    if (isCairnError(err)) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe("parseReference: docker normalization", () => {
  // input, toString(), domain, repository, tag, digest, familiar()
  const cases: Array<[string, string, string, string, string | undefined, string | undefined, string]> = [
    [
      "ubuntu",
      "docker.io/library/ubuntu:latest",
      "docker.io",
      "library/ubuntu",
      "latest",
      undefined,
      "ubuntu:latest",
    ],
    [
      "ubuntu:22.04",
      "docker.io/library/ubuntu:22.04",
      "docker.io",
      "library/ubuntu",
      "22.04",
      undefined,
      "ubuntu:22.04",
    ],
    [
      "user/repo",
      "docker.io/user/repo:latest",
      "docker.io",
      "user/repo",
      "latest",
      undefined,
      "user/repo:latest",
    ],
    [
      "library/ubuntu",
      "docker.io/library/ubuntu:latest",
      "docker.io",
      "library/ubuntu",
      "latest",
      undefined,
      "ubuntu:latest",
    ],
    [
      "docker.io/ubuntu",
      "docker.io/library/ubuntu:latest",
      "docker.io",
      "library/ubuntu",
      "latest",
      undefined,
      "ubuntu:latest",
    ],
    [
      "docker.io/library/ubuntu",
      "docker.io/library/ubuntu:latest",
      "docker.io",
      "library/ubuntu",
      "latest",
      undefined,
      "ubuntu:latest",
    ],
    [
      "index.docker.io/ubuntu",
      "docker.io/library/ubuntu:latest",
      "docker.io",
      "library/ubuntu",
      "latest",
      undefined,
      "ubuntu:latest",
    ],
    [
      "index.docker.io/fooo/bar",
      "docker.io/fooo/bar:latest",
      "docker.io",
      "fooo/bar",
      "latest",
      undefined,
      "fooo/bar:latest",
    ],
    [
      "library/foo/bar",
      "docker.io/library/foo/bar:latest",
      "docker.io",
      "library/foo/bar",
      "latest",
      undefined,
      "library/foo/bar:latest",
    ],
    [
      "store/foo/bar",
      "docker.io/store/foo/bar:latest",
      "docker.io",
      "store/foo/bar",
      "latest",
      undefined,
      "store/foo/bar:latest",
    ],
    [
      "other/library",
      "docker.io/other/library:latest",
      "docker.io",
      "other/library",
      "latest",
      undefined,
      "other/library:latest",
    ],
    [
      "ubuntu-12.04-base",
      "docker.io/library/ubuntu-12.04-base:latest",
      "docker.io",
      "library/ubuntu-12.04-base",
      "latest",
      undefined,
      "ubuntu-12.04-base:latest",
    ],
    [
      "test_com/foo",
      "docker.io/test_com/foo:latest",
      "docker.io",
      "test_com/foo",
      "latest",
      undefined,
      "test_com/foo:latest",
    ],
    [
      "registry-1.docker.io/library/x",
      "registry-1.docker.io/library/x:latest",
      "registry-1.docker.io",
      "library/x",
      "latest",
      undefined,
      "registry-1.docker.io/library/x:latest",
    ],
    ["localhost/x", "localhost/x:latest", "localhost", "x", "latest", undefined, "localhost/x:latest"],
    ["localhost:5000/x:y", "localhost:5000/x:y", "localhost:5000", "x", "y", undefined, "localhost:5000/x:y"],
    ["test.com/foo", "test.com/foo:latest", "test.com", "foo", "latest", undefined, "test.com/foo:latest"],
    [
      "test:5000/repo",
      "test:5000/repo:latest",
      "test:5000",
      "repo",
      "latest",
      undefined,
      "test:5000/repo:latest",
    ],
    [
      "test-com:8080/foo",
      "test-com:8080/foo:latest",
      "test-com:8080",
      "foo",
      "latest",
      undefined,
      "test-com:8080/foo:latest",
    ],
    [
      "127.0.0.1:8000/private/moonbase",
      "127.0.0.1:8000/private/moonbase:latest",
      "127.0.0.1:8000",
      "private/moonbase",
      "latest",
      undefined,
      "127.0.0.1:8000/private/moonbase:latest",
    ],
    [
      "example.com:8000/privatebase",
      "example.com:8000/privatebase:latest",
      "example.com:8000",
      "privatebase",
      "latest",
      undefined,
      "example.com:8000/privatebase:latest",
    ],
    [
      "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
      "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
      "sub-dom1.foo.com",
      "bar/baz/quux",
      "some-long-tag",
      undefined,
      "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
    ],
    [
      "b.gcr.io/test.example.com/my-app:test.example.com",
      "b.gcr.io/test.example.com/my-app:test.example.com",
      "b.gcr.io",
      "test.example.com/my-app",
      "test.example.com",
      undefined,
      "b.gcr.io/test.example.com/my-app:test.example.com",
    ],
    [
      "xn--n3h.com/myimage:xn--n3h.com",
      "xn--n3h.com/myimage:xn--n3h.com",
      "xn--n3h.com",
      "myimage",
      "xn--n3h.com",
      undefined,
      "xn--n3h.com/myimage:xn--n3h.com",
    ],
    [
      "Asdf.com/foo/bar",
      "Asdf.com/foo/bar:latest",
      "Asdf.com",
      "foo/bar",
      "latest",
      undefined,
      "Asdf.com/foo/bar:latest",
    ],
    [
      "registry.io/foo/project--id.module--name.ver---sion--name",
      "registry.io/foo/project--id.module--name.ver---sion--name:latest",
      "registry.io",
      "foo/project--id.module--name.ver---sion--name",
      "latest",
      undefined,
      "registry.io/foo/project--id.module--name.ver---sion--name:latest",
    ],
    [
      "example.com/some_separator__underscore/myimage",
      "example.com/some_separator__underscore/myimage:latest",
      "example.com",
      "some_separator__underscore/myimage",
      "latest",
      undefined,
      "example.com/some_separator__underscore/myimage:latest",
    ],
    [
      "do__cker/docker",
      "docker.io/do__cker/docker:latest",
      "docker.io",
      "do__cker/docker",
      "latest",
      undefined,
      "do__cker/docker:latest",
    ],
    [
      "docker---rules/docker",
      "docker.io/docker---rules/docker:latest",
      "docker.io",
      "docker---rules/docker",
      "latest",
      undefined,
      "docker---rules/docker:latest",
    ],
    [
      "d/docker",
      "docker.io/d/docker:latest",
      "docker.io",
      "d/docker",
      "latest",
      undefined,
      "d/docker:latest",
    ],
    // A single component with a colon is name:tag, never host:port.
    [
      "test.com:5000",
      "docker.io/library/test.com:5000",
      "docker.io",
      "library/test.com",
      "5000",
      undefined,
      "test.com:5000",
    ],
    [
      "localhost:5000",
      "docker.io/library/localhost:5000",
      "docker.io",
      "library/localhost",
      "5000",
      undefined,
      "localhost:5000",
    ],
    [
      "localhost",
      "docker.io/library/localhost:latest",
      "docker.io",
      "library/localhost",
      "latest",
      undefined,
      "localhost:latest",
    ],
    [
      "192.168.1.1",
      "docker.io/library/192.168.1.1:latest",
      "docker.io",
      "library/192.168.1.1",
      "latest",
      undefined,
      "192.168.1.1:latest",
    ],
    [
      "192.168.1.1:5000",
      "docker.io/library/192.168.1.1:5000",
      "docker.io",
      "library/192.168.1.1",
      "5000",
      undefined,
      "192.168.1.1:5000",
    ],
    [
      "192.168.1.1/repo",
      "192.168.1.1/repo:latest",
      "192.168.1.1",
      "repo",
      "latest",
      undefined,
      "192.168.1.1/repo:latest",
    ],
    [
      "192.168.1.1:5000/repo:5050",
      "192.168.1.1:5000/repo:5050",
      "192.168.1.1:5000",
      "repo",
      "5050",
      undefined,
      "192.168.1.1:5000/repo:5050",
    ],
    [
      "foo_bar.com:8080",
      "docker.io/library/foo_bar.com:8080",
      "docker.io",
      "library/foo_bar.com",
      "8080",
      undefined,
      "foo_bar.com:8080",
    ],
    [
      "lowercase:Uppercase",
      "docker.io/library/lowercase:Uppercase",
      "docker.io",
      "library/lowercase",
      "Uppercase",
      undefined,
      "lowercase:Uppercase",
    ],
    [
      "[2001:db8::1]/repo",
      "[2001:db8::1]/repo:latest",
      "[2001:db8::1]",
      "repo",
      "latest",
      undefined,
      "[2001:db8::1]/repo:latest",
    ],
    [
      "[2001:db8:1:2:3:4:5:6]/repo:tag",
      "[2001:db8:1:2:3:4:5:6]/repo:tag",
      "[2001:db8:1:2:3:4:5:6]",
      "repo",
      "tag",
      undefined,
      "[2001:db8:1:2:3:4:5:6]/repo:tag",
    ],
    [
      "[2001:db8::]:5000/repo",
      "[2001:db8::]:5000/repo:latest",
      "[2001:db8::]:5000",
      "repo",
      "latest",
      undefined,
      "[2001:db8::]:5000/repo:latest",
    ],
    [
      "[fc00::1]:5000/docker/docker",
      "[fc00::1]:5000/docker/docker:latest",
      "[fc00::1]:5000",
      "docker/docker",
      "latest",
      undefined,
      "[fc00::1]:5000/docker/docker:latest",
    ],
    [
      `[2001:db8::1]:5000/repo:tag@${SHA256_F}`,
      `[2001:db8::1]:5000/repo:tag@${SHA256_F}`,
      "[2001:db8::1]:5000",
      "repo",
      "tag",
      SHA256_F,
      `[2001:db8::1]:5000/repo:tag@${SHA256_F}`,
    ],
    [
      `redis@${SHA256}`,
      `docker.io/library/redis@${SHA256}`,
      "docker.io",
      "library/redis",
      undefined,
      SHA256,
      `redis@${SHA256}`,
    ],
    [
      `busybox:latest@${SHA256}`,
      `docker.io/library/busybox:latest@${SHA256}`,
      "docker.io",
      "library/busybox",
      "latest",
      SHA256,
      `busybox:latest@${SHA256}`,
    ],
    [
      `dmcgowan/myapp@${SHA256}`,
      `docker.io/dmcgowan/myapp@${SHA256}`,
      "docker.io",
      "dmcgowan/myapp",
      undefined,
      SHA256,
      `dmcgowan/myapp@${SHA256}`,
    ],
    [
      `xn--7o8h.com/myimage:xn--7o8h.com@${SHA512_F}`,
      `xn--7o8h.com/myimage:xn--7o8h.com@${SHA512_F}`,
      "xn--7o8h.com",
      "myimage",
      "xn--7o8h.com",
      SHA512_F,
      `xn--7o8h.com/myimage:xn--7o8h.com@${SHA512_F}`,
    ],
    // A 64-hex name is allowed once a domain makes clear it is not an image ID.
    [
      `docker.io/${HEX64}`,
      `docker.io/library/${HEX64}:latest`,
      "docker.io",
      `library/${HEX64}`,
      "latest",
      undefined,
      `library/${HEX64}:latest`,
    ],
    [
      `${HEX64.slice(0, 63)}`,
      `docker.io/library/${HEX64.slice(0, 63)}:latest`,
      "docker.io",
      `library/${HEX64.slice(0, 63)}`,
      "latest",
      undefined,
      `${HEX64.slice(0, 63)}:latest`,
    ],
    // Familiar forms keep docker.io when dropping it would make the path look like a registry.
    [
      "docker.io/foo.bar/baz",
      "docker.io/foo.bar/baz:latest",
      "docker.io",
      "foo.bar/baz",
      "latest",
      undefined,
      "docker.io/foo.bar/baz:latest",
    ],
    [
      "docker.io/localhost/x",
      "docker.io/localhost/x:latest",
      "docker.io",
      "localhost/x",
      "latest",
      undefined,
      "docker.io/localhost/x:latest",
    ],
  ];

  it.each(cases)("%s", (input, full, domain, repository, tag, digest, familiar) => {
    const ref = parseReference(input);
    expect(ref.toString()).toBe(full);
    expect(ref.domain).toBe(domain);
    expect(ref.repository).toBe(repository);
    expect(ref.tag).toBe(tag);
    expect(ref.digest).toBe(digest);
    expect(ref.name).toBe(`${domain}/${repository}`);
    expect(ref.familiar()).toBe(familiar);
    expect(parseReference(ref.toString()).toString()).toBe(full);
    expect(parseReference(ref.familiar()).toString()).toBe(full);
  });

  it("applies the latest tag only when neither tag nor digest is given", () => {
    expect(parseReference("ubuntu").tag).toBe("latest");
    expect(parseReference(`ubuntu@${SHA256}`).tag).toBeUndefined();
    expect(parseReference("ubuntu:jammy").tag).toBe("jammy");
  });

  it("leaves the tag out with defaultTag: false", () => {
    const ref = parseReference("ubuntu", { defaultTag: false });
    expect(ref.tag).toBeUndefined();
    expect(ref.toString()).toBe("docker.io/library/ubuntu");
    expect(ref.familiar()).toBe("ubuntu");
    expect(ref.identifier).toBe("latest");
    expect(parseReference(ref.toString(), { defaultTag: false }).equals(ref)).toBe(true);
  });

  it("accepts docker's valid repository names", () => {
    const valid = [
      "docker/docker",
      "library/debian",
      "debian",
      "docker.io/docker/docker",
      "docker.io/library/debian",
      "docker.io/debian",
      "index.docker.io/docker/docker",
      "index.docker.io/library/debian",
      "index.docker.io/debian",
      "127.0.0.1:5000/docker/docker",
      "127.0.0.1:5000/library/debian",
      "127.0.0.1:5000/debian",
      "192.168.0.1",
      "192.168.0.1:80",
      "192.168.0.1:8/debian",
      "192.168.0.2:25000/debian",
      "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
      "[fc00::1]:5000/docker",
      "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
      "docker-rules/docker",
      "doc/docker",
      "jess/t",
      "dock__er/docker",
      "foo.com/foo_bar",
      "example.com/xn--7o8h.com/myimage",
      "aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb",
      "a/a/a/a",
      "aa-a/a",
      "0101.com/x",
      "b.gbc.io:443/x",
      "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:5000/x",
      "[::]/x",
      "[::1]/x",
    ];
    for (const s of valid) expect(tryParseReference(s), s).toBeInstanceOf(Reference);
  });
});

describe("parseReference: invalid input", () => {
  // input, the part named in details.part, a pattern the message must match
  const cases: Array<[string, ReferencePart, RegExp]> = [
    ["", "reference", /found an empty string/],
    ["Uppercase/repo", "path", /repository path "Uppercase\/repo" must be lowercase/],
    ["Uppercase:tag", "path", /must be lowercase/],
    ["docker/Docker", "path", /must be lowercase, found uppercase in "Docker"/],
    ["DOCKER/docker", "path", /must be lowercase/],
    ["docker.io/docker/Docker", "path", /must be lowercase/],
    ["test:5000/Uppercase/lowercase:tag", "path", /must be lowercase/],
    [`x:${"a".repeat(129)}`, "tag", /tag is too long: expected at most 128 characters, found 129/],
    ["repo@sha256:short", "digest", /expected a sha256 or sha512 digest.*needs 64 hex characters, found 5/],
    [`repo@sha256:${"f".repeat(34)}`, "digest", /needs 64 hex characters/],
    [`validname@invaliddigest:${"f".repeat(64)}`, "digest", /unsupported algorithm/],
    [`repo@sha256:${"F".repeat(64)}`, "digest", /lowercase hex/],
    [`repo@md5:${"f".repeat(32)}`, "digest", /unsupported algorithm/],
    [`repo@${SHA256}@${SHA256}`, "digest", /digest/],
    ["repo@", "digest", /expected a digest after "@", found nothing/],
    [`@${SHA256}`, "path", /expected a repository name before "@"/],
    [":justtag", "path", /expected a repository name before ":"/],
    ["a//b", "path", /empty component/],
    ["docker///docker", "path", /empty component/],
    ["docker.io/docker///docker", "path", /empty component/],
    ["a/a/a/a/", "path", /empty component/],
    ["foo.com/", "path", /expected a repository path, found nothing/],
    ["docker/", "path", /empty component/],
    ["/docker", "path", /empty component/],
    ["ubuntu:", "tag", /expected a tag after ":", found nothing/],
    ["localhost:5000/x:", "tag", /expected a tag after ":"/],
    ["ubuntu:-x", "tag", /tag "-x" is invalid/],
    ["ubuntu:.x", "tag", /tag ".x" is invalid/],
    ["registry.com:8080/myapp:invalid~tag", "tag", /tag "invalid~tag" is invalid/],
    ["ubuntu:22.04:x", "tag", /tag "22.04:x" is invalid/],
    [
      "a.com:abc/x",
      "domain",
      /registry port "abc" in "a.com:abc" is invalid: expected a number from 1 to 65535/,
    ],
    ["a.com:0/x", "domain", /registry port "0"/],
    ["a.com:65536/x", "domain", /registry port "65536"/],
    ["192.168.1.1:750050/x", "domain", /registry port "750050"/],
    ["foo.com:http/bar", "domain", /registry port "http"/],
    ["localhost:/x", "domain", /registry port ""/],
    [
      "bad_hostname.com:8080/myapp:tag",
      "domain",
      /registry host "bad_hostname.com" is invalid at "bad_hostname"/,
    ],
    ["do__cker:8080/docker", "domain", /registry host "do__cker" is invalid/],
    ["-docker.io/docker/docker", "domain", /starting and ending with a letter or digit/],
    ["ab-.com/x", "domain", /is invalid at "ab-"/],
    ["a..b.com/x", "domain", /empty label/],
    ["docker./docker", "domain", /empty label/],
    [".docker/docker", "domain", /empty label/],
    ["fc00::1:5000/debian", "domain", /IPv6 address must be in brackets/],
    ["[fc00::1/x", "domain", /missing the "]"/],
    ["[fe80::1%eth0]:5000/debian", "domain", /not a valid IPv6 address/],
    ["[2001:db8:3:4::192.0.2.33]:5000/debian", "domain", /not a valid IPv6 address/],
    ["[fd00123123123]:5000/x", "domain", /not a valid IPv6 address/],
    ["[1:2:3:4:5:6:7:8:9]/x", "domain", /not a valid IPv6 address/],
    ["[1::2::3]/x", "domain", /not a valid IPv6 address/],
    ["[fd00:1:2::3]75050/x", "domain", /expected ":port" after the IPv6 address/],
    ["[fd00:1:2::3]::75050/x", "domain", /registry port ":75050"/],
    ["[fc00::1]", "path", /expected a repository path after the registry host/],
    ["[fc00::1]:5000", "path", /expected a repository path after the registry host/],
    ["[2001:db8::1]:tag", "path", /expected a repository path after the registry host/],
    ["-docker", "path", /must start and end with a lowercase letter or digit/],
    ["-docker/docker", "path", /must start and end/],
    ["docker-/docker", "path", /must start and end/],
    ["-docker-/docker", "path", /must start and end/],
    ["foo/bar-", "path", /must start and end/],
    ["____/____", "path", /must start and end/],
    ["_docker/_docker", "path", /must start and end/],
    // A first component with a '.' is a registry host, so these fail as hosts...
    ["dock..er/docker", "domain", /empty label/],
    ["dock_.er/docker", "domain", /is invalid at "dock_"/],
    ["dock-.er/docker", "domain", /is invalid at "dock-"/],
    // ...and as path components later on.
    ["x.com/dock..er/docker", "path", /"dock..er" has an invalid separator/],
    ["x.com/dock_.er", "path", /invalid separator/],
    ["x.com/dock-.er", "path", /invalid separator/],
    ["x.com/a/dock.-er", "path", /invalid separator/],
    ["example.com/___x/y", "path", /must start and end/],
    ["example.com/a___b", "path", /invalid separator/],
    ["aa/asdf$$^/aa", "path", /contains "\$"/],
    ["a^a", "path", /contains "\^"/],
    ["foo/b:c/d", "path", /contains ":"/],
    ["café", "path", /contains "é"/],
    [HEX64, "path", /64-character hex string is an image ID/],
    ["https://github.com/docker/docker", "reference", /without a URL scheme/],
    ["docker://ubuntu", "reference", /without a URL scheme/],
    [" ubuntu", "reference", /expected no whitespace, found " " at offset 0/],
    ["ubuntu\n", "reference", /expected no whitespace, found "\\n"/],
    ["ubuntu\t:latest", "reference", /whitespace/],
  ];

  it.each(cases)("%j", (input, part, pattern) => {
    const err = parseError(input);
    expect(err).toBeInstanceOf(CairnError);
    expect(err.code).toBe("E_REFERENCE_INVALID");
    expect(err.details?.["part"]).toBe(part);
    expect(err.message).toMatch(pattern);
    expect(
      err.message.startsWith(
        `invalid reference ${JSON.stringify(input.length > 80 ? `${input.slice(0, 80)}…` : input)}:`,
      ),
    ).toBe(true);
    expect(tryParseReference(input)).toBeUndefined();
  });

  it("keeps the digest error as the cause", () => {
    const err = parseError("repo@sha256:short");
    expect(isCairnError(err.cause, "E_DIGEST_INVALID")).toBe(true);
  });

  it("rejects a non-string", () => {
    // @ts-expect-error: testing untrusted input
    expect(() => parseReference(42)).toThrow(/expected a string, found number/);
    // @ts-expect-error: testing untrusted input
    expect(() => parseReference(null)).toThrow(/found null/);
  });

  it("accepts a 128-character tag and rejects 129", () => {
    const tag = `_${"a.-".repeat(42)}b`;
    expect(tag).toHaveLength(128);
    expect(parseReference(`x:${tag}`).tag).toBe(tag);
    expect(parseError(`x:${tag}b`).message).toMatch(/found 129/);
  });

  it("limits the normalized name (domain included) to 255 characters", () => {
    const domain = "example.com";
    const path = (n: number) => "a/".repeat((n - 1) / 2) + "a"; // odd lengths
    const fits = `${domain}/${path(MAX_NAME_LENGTH - domain.length - 1)}`;
    expect(fits).toHaveLength(255);
    expect(parseReference(fits).name).toBe(fits);
    const tooLong = `${domain}/${path(MAX_NAME_LENGTH - domain.length + 1)}`;
    expect(tooLong).toHaveLength(257);
    const err = parseError(`${tooLong}:tag`);
    expect(err.details?.["part"]).toBe("name");
    expect(err.message).toMatch(/repository name is too long: expected at most 255 characters.*found 257/);
    // A familiar name grows by "docker.io/" when normalized, and that counts too.
    const familiar = path(251);
    expect(parseError(familiar).message).toMatch(/found 261/);
    expect(parseReference(path(245)).name).toHaveLength(255);
    // The tag does not count toward the limit.
    expect(parseReference(`${fits}:${"t".repeat(128)}`).tag).toHaveLength(128);
  });

  it("rejects huge inputs quickly and cuts them short in messages", () => {
    const huge = `${"a-".repeat(50_000)}!`;
    const started = Date.now();
    const err = parseError(huge);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(err.message.length).toBeLessThan(400);
    expect(String(err.details?.["input"]).length).toBeLessThanOrEqual(1025);
  });
});

describe("Reference", () => {
  it("gives Docker Hub's API host as the registry URL", () => {
    const ref = parseReference("ubuntu");
    expect(ref.registryUrl).toBe(DOCKER_HUB_REGISTRY_URL);
    expect(ref.registryUrl).toBe("https://registry-1.docker.io");
    expect(ref.scheme).toBe("https");
    expect(ref.insecureDefault).toBe(false);
  });

  it.each([
    ["localhost:5000/x", "http", "http://localhost:5000"],
    ["localhost/x", "http", "http://localhost"],
    ["127.0.0.1:5000/x", "http", "http://127.0.0.1:5000"],
    ["127.255.0.9/x", "http", "http://127.255.0.9"],
    ["[::1]:5000/x", "http", "http://[::1]:5000"],
    ["[::1]/x", "http", "http://[::1]"],
    ["[0:0:0:0:0:0:0:1]:5000/x", "http", "http://[0:0:0:0:0:0:0:1]:5000"],
    ["ghcr.io/acme/app", "https", "https://ghcr.io"],
    ["registry.example.com:8443/a/b", "https", "https://registry.example.com:8443"],
    ["128.0.0.1/x", "https", "https://128.0.0.1"],
    ["192.168.0.1:5000/x", "https", "https://192.168.0.1:5000"],
    ["[::2]/x", "https", "https://[::2]"],
    ["localhost.example.com/x", "https", "https://localhost.example.com"],
    ["registry-1.docker.io/library/x", "https", "https://registry-1.docker.io"],
  ])("%s uses %s at %s", (input, scheme, url) => {
    const ref = parseReference(input);
    expect(ref.scheme).toBe(scheme);
    expect(ref.insecureDefault).toBe(scheme === "http");
    expect(ref.registryUrl).toBe(url);
  });

  it("names the digest, else the tag, as the manifest identifier", () => {
    expect(parseReference("ubuntu:22.04").identifier).toBe("22.04");
    expect(parseReference(`ubuntu:22.04@${SHA256}`).identifier).toBe(SHA256);
    expect(parseReference(`ubuntu@${SHA256}`).identifier).toBe(SHA256);
  });

  it("replaces the tag with withTag and keeps the digest", () => {
    const ref = parseReference(`ubuntu:22.04@${SHA256}`);
    const retagged = ref.withTag("24.04");
    expect(retagged.toString()).toBe(`docker.io/library/ubuntu:24.04@${SHA256}`);
    expect(ref.tag).toBe("22.04");
    expect(() => ref.withTag("bad tag")).toThrow(/tag "bad tag" is invalid/);
    expect(() => ref.withTag("x".repeat(129))).toThrow(/too long/);
  });

  it("pins with withDigest and keeps the tag", () => {
    const ref = parseReference("localhost:5000/x:y").withDigest(SHA512_F);
    expect(ref.toString()).toBe(`localhost:5000/x:y@${SHA512_F}`);
    expect(ref.identifier).toBe(SHA512_F);
    expect(ref.familiar()).toBe(`localhost:5000/x:y@${SHA512_F}`);
    expect(() => ref.withDigest("sha256:abc")).toThrow(CairnError);
    try {
      ref.withDigest("sha256:abc");
    } catch (err) {
      expect(isCairnError(err, "E_REFERENCE_INVALID")).toBe(true);
    }
  });

  it("drops the tag or digest with withoutTag and withoutDigest", () => {
    const ref = parseReference(`ubuntu:22.04@${SHA256}`);
    expect(ref.withoutTag().toString()).toBe(`docker.io/library/ubuntu@${SHA256}`);
    expect(ref.withoutDigest().toString()).toBe("docker.io/library/ubuntu:22.04");
    expect(ref.withoutTag().withoutDigest().toString()).toBe("docker.io/library/ubuntu");
    expect(ref.withoutTag().withoutDigest().identifier).toBe("latest");
  });

  it("compares, serializes and freezes", () => {
    const a = parseReference("ubuntu");
    expect(a.equals(parseReference("docker.io/library/ubuntu:latest"))).toBe(true);
    expect(a.equals(parseReference("index.docker.io/library/ubuntu:latest"))).toBe(true);
    expect(a.equals(parseReference("ubuntu:22.04"))).toBe(false);
    expect(JSON.stringify({ ref: a })).toBe('{"ref":"docker.io/library/ubuntu:latest"}');
    expect(`${a}`).toBe("docker.io/library/ubuntu:latest");
    expect(Object.isFrozen(a)).toBe(true);
  });

  it("builds from parts with the same normalization and validation", () => {
    expect(new Reference({ repository: "ubuntu" }).toString()).toBe("docker.io/library/ubuntu");
    expect(new Reference({ domain: "index.docker.io", repository: "a/b", tag: "1" }).toString()).toBe(
      "docker.io/a/b:1",
    );
    expect(new Reference({ domain: "ghcr.io", repository: "x", digest: SHA256 }).familiar()).toBe(
      `ghcr.io/x@${SHA256}`,
    );
    expect(() => new Reference({ domain: "myregistry", repository: "x" })).toThrow(
      /"myregistry" would be read as a repository path component/,
    );
    expect(() => new Reference({ domain: "ghcr.io", repository: "X" })).toThrow(/must be lowercase/);
    expect(() => new Reference({ domain: "", repository: "x" })).toThrow(/expected a registry host/);
    expect(() => new Reference({ repository: "" })).toThrow(/expected a repository path/);
    expect(() => new Reference({ repository: "x", digest: "sha256:zz" })).toThrow(/digest/);
  });
});

describe("helpers", () => {
  it.each([
    ["localhost", true],
    ["LOCALHOST:5000", true],
    ["localhost:5000", true],
    ["127.0.0.1", true],
    ["127.0.0.1:80", true],
    ["127.1.2.3", true],
    ["[::1]", true],
    ["[::1]:5000", true],
    ["::1", true],
    ["0:0:0:0:0:0:0:1", true],
    ["[0000::0001]", true],
    ["128.0.0.1", false],
    ["127.0.0.256", false],
    ["127.0.0", false],
    ["[::2]", false],
    ["[::]", false],
    ["::", false],
    ["localhost.localdomain", false],
    ["example.com", false],
    ["docker.io", false],
    ["", false],
  ])("isLoopbackHost(%j) is %s", (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });

  it("normalizes only index.docker.io", () => {
    expect(normalizeDomain("index.docker.io")).toBe(DEFAULT_DOMAIN);
    expect(normalizeDomain("docker.io")).toBe("docker.io");
    expect(normalizeDomain("registry-1.docker.io")).toBe("registry-1.docker.io");
    expect(normalizeDomain("index.docker.io:443")).toBe("index.docker.io:443");
    expect(normalizeDomain("ghcr.io")).toBe("ghcr.io");
  });

  it("validates tags", () => {
    expect(isValidTag("latest")).toBe(true);
    expect(isValidTag("_")).toBe(true);
    expect(isValidTag("V1.2.3-rc_1")).toBe(true);
    expect(isValidTag("a".repeat(128))).toBe(true);
    expect(isValidTag("a".repeat(129))).toBe(false);
    expect(isValidTag("")).toBe(false);
    expect(isValidTag("-a")).toBe(false);
    expect(isValidTag("a+b")).toBe(false);
    expect(isValidTag("a/b")).toBe(false);
  });
});

// ---- property tests ----

const chars = (s: string) => fc.constantFrom(...s.split(""));
const LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789";
const ALNUM = `${LOWER_ALNUM}ABCDEFGHIJKLMNOPQRSTUVWXYZ`;
const HEX = "0123456789abcdef";

const alnumRun = fc.string({ unit: chars(LOWER_ALNUM), minLength: 1, maxLength: 6 });
const separator = fc.constantFrom(".", "_", "__", "-", "--", "---");
const pathComponent = fc
  .tuple(alnumRun, fc.array(fc.tuple(separator, alnumRun), { maxLength: 3 }))
  .map(([head, rest]) => head + rest.map(([sep, run]) => sep + run).join(""));
const repoPath = fc.array(pathComponent, { minLength: 1, maxLength: 4 }).map((c) => c.join("/"));

const label = fc
  .tuple(
    fc.string({ unit: chars(ALNUM), minLength: 1, maxLength: 6 }),
    fc.option(
      fc.tuple(
        fc.string({ unit: chars(`${ALNUM}-`), maxLength: 4 }),
        fc.string({ unit: chars(ALNUM), minLength: 1, maxLength: 3 }),
      ),
    ),
  )
  .map(([a, more]) => (more === null ? a : a + more[0] + more[1]));
const port = fc.integer({ min: 1, max: 65535 }).map(String);
const withPort = (host: fc.Arbitrary<string>) =>
  fc.tuple(host, fc.option(port)).map(([h, p]) => (p === null ? h : `${h}:${p}`));
const dottedHost = fc.array(label, { minLength: 2, maxLength: 4 }).map((l) => l.join("."));
const ipv4 = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })
  .map((o) => o.join("."));
const ipv6 = fc
  .tuple(
    fc.array(fc.string({ unit: chars(`${HEX}ABCDEF`), minLength: 1, maxLength: 4 }), {
      minLength: 8,
      maxLength: 8,
    }),
    fc.nat(8),
    fc.nat(8),
  )
  .map(([groups, x, y]) => {
    const [i, j] = [Math.min(x, y), Math.max(x, y)];
    if (i === j) return `[${groups.join(":")}]`;
    return `[${groups.slice(0, i).join(":")}::${groups.slice(j).join(":")}]`;
  });
const domain = fc.oneof(
  withPort(dottedHost),
  withPort(fc.constant("localhost")),
  fc.tuple(label, port).map(([h, p]) => `${h}:${p}`),
  withPort(ipv4),
  withPort(ipv6),
  fc.constantFrom("docker.io", "index.docker.io", "ghcr.io", "registry-1.docker.io"),
);
const tag = fc
  .tuple(chars(`${ALNUM}_`), fc.string({ unit: chars(`${ALNUM}_.-`), maxLength: 127 }))
  .map(([a, b]) => a + b);
const digest = fc.oneof(
  fc.string({ unit: chars(HEX), minLength: 64, maxLength: 64 }).map((h) => `sha256:${h}`),
  fc.string({ unit: chars(HEX), minLength: 128, maxLength: 128 }).map((h) => `sha512:${h}`),
);

interface Generated {
  domain: string | null;
  path: string;
  tag: string | null;
  digest: string | null;
}

const firstLooksLikeDomain = (p: string) => {
  const first = p.split("/")[0] ?? "";
  return p.includes("/") && (first === "localhost" || /[.:]/.test(first));
};
const generated: fc.Arbitrary<Generated> = fc
  .record({ domain: fc.option(domain), path: repoPath, tag: fc.option(tag), digest: fc.option(digest) })
  // Without a domain, a first component like "a.b" would be read as a registry: not this shape.
  .filter((g) => g.domain !== null || !firstLooksLikeDomain(g.path))
  .filter((g) => !/^[a-f0-9]{64}$/.test(g.path))
  .filter((g) => `${g.domain ?? "docker.io/library"}/${g.path}`.length <= MAX_NAME_LENGTH);

function format(g: Generated): string {
  return (
    (g.domain === null ? "" : `${g.domain}/`) +
    g.path +
    (g.tag === null ? "" : `:${g.tag}`) +
    (g.digest === null ? "" : `@${g.digest}`)
  );
}

// An independent transcription of the distribution grammar, used as an oracle: anything cairn
// accepts must match it (cairn is stricter about digests, ports, IPv6, length and uppercase).
const ALPHA_NUM = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]+)";
const PATH_COMP = `${ALPHA_NUM}(?:${SEPARATOR}${ALPHA_NUM})*`;
const DOMAIN_COMP = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOST = `(?:${DOMAIN_COMP}(?:\\.${DOMAIN_COMP})*|\\[[a-fA-F0-9:]+\\])`;
const NAME = `(?:${HOST}(?::[0-9]+)?/)?${PATH_COMP}(?:/${PATH_COMP})*`;
const GRAMMAR = new RegExp(
  `^${NAME}(?::[\\w][\\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`,
);

describe("property tests", () => {
  it("parses formatted references into their parts", () => {
    fc.assert(
      fc.property(generated, (g) => {
        const ref = parseReference(format(g), { defaultTag: false });
        const expectedDomain = normalizeDomain(g.domain ?? DEFAULT_DOMAIN);
        expect(ref.domain).toBe(expectedDomain);
        const single = !g.path.includes("/");
        expect(ref.repository).toBe(
          expectedDomain === DEFAULT_DOMAIN && single ? `library/${g.path}` : g.path,
        );
        expect(ref.tag).toBe(g.tag ?? undefined);
        expect(ref.digest).toBe(g.digest ?? undefined);
        expect(ref.identifier).toBe(g.digest ?? g.tag ?? "latest");
      }),
      { numRuns: 500 },
    );
  });

  it("round-trips toString() and familiar()", () => {
    fc.assert(
      fc.property(generated, fc.boolean(), (g, defaultTag) => {
        const ref = parseReference(format(g), { defaultTag });
        const full = ref.toString();
        expect(parseReference(full, { defaultTag }).toString()).toBe(full);
        expect(parseReference(ref.familiar(), { defaultTag }).toString()).toBe(full);
        expect(ref.familiar().length).toBeLessThanOrEqual(full.length);
        expect(new Reference(ref).toString()).toBe(full);
        expect(GRAMMAR.test(full)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("adds latest only when the input has neither tag nor digest", () => {
    fc.assert(
      fc.property(generated, (g) => {
        const ref = parseReference(format(g));
        expect(ref.tag).toBe(g.tag ?? (g.digest === null ? "latest" : undefined));
      }),
    );
  });

  it("rejects any uppercase letter in the path", () => {
    fc.assert(
      fc.property(generated, fc.nat(), chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), (g, at, upper) => {
        const letters = [...g.path.matchAll(/[a-z]/g)].map((m) => m.index);
        fc.pre(letters.length > 0);
        const i = letters[at % letters.length] ?? 0;
        const path = g.path.slice(0, i) + upper + g.path.slice(i + 1);
        const err = parseError(format({ ...g, path }));
        expect(err.details?.["part"]).toBe("path");
        expect(err.message).toMatch(/must be lowercase/);
      }),
    );
  });

  it("rejects tags longer than 128 characters", () => {
    fc.assert(
      fc.property(
        repoPath,
        fc.string({ unit: chars(`${ALNUM}_`), minLength: 129, maxLength: 300 }),
        (path, t) => {
          const err = parseError(`example.com/${path}:${t}`);
          expect(err.details?.["part"]).toBe("tag");
          expect(err.message).toContain(`found ${t.length}`);
        },
      ),
    );
  });

  it("only accepts what the distribution grammar accepts, and fails only with E_REFERENCE_INVALID", () => {
    const mutated = fc
      .tuple(generated, fc.array(fc.tuple(fc.nat(), fc.nat(2), chars("aZ09-_.:/@[]%~ ")), { maxLength: 3 }))
      .map(([g, edits]) => {
        let s = format(g);
        for (const [pos, kind, ch] of edits) {
          const i = pos % (s.length + 1);
          if (kind === 0) s = s.slice(0, i) + ch + s.slice(i);
          else if (kind === 1) s = s.slice(0, i) + s.slice(i + 1);
          else s = s.slice(0, i) + ch + s.slice(i + 1);
        }
        return s;
      });
    const anything = fc.oneof(mutated, fc.string(), fc.string({ unit: chars("aB0-_.:/@[]") }));
    fc.assert(
      fc.property(anything, (s) => {
        let ref: Reference;
        try {
          ref = parseReference(s);
        } catch (err) {
          expect(isCairnError(err, "E_REFERENCE_INVALID")).toBe(true);
          expect((err as CairnError).details?.["part"]).toBeTypeOf("string");
          return;
        }
        expect(GRAMMAR.test(s)).toBe(true);
        expect(parseReference(ref.toString()).toString()).toBe(ref.toString());
        expect(parseReference(ref.familiar()).toString()).toBe(ref.toString());
      }),
      { numRuns: 2000 },
    );
  });

  it("treats the loopback ranges as loopback and nothing near them", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 3, maxLength: 3 }),
        fc.option(port),
        (o, p) => {
          const host = `127.${o.join(".")}`;
          expect(isLoopbackHost(p === null ? host : `${host}:${p}`)).toBe(true);
          expect(isLoopbackHost(`126.${o.join(".")}`)).toBe(false);
        },
      ),
    );
  });
});
