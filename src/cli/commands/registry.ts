import { readFileSync } from "node:fs";
import { CairnError } from "../../errors/index.js";
import { isImageIndex } from "../../image/index.js";
import { parseManifest } from "../../manifest/index.js";
import {
  catalog,
  copy as copyImage,
  deleteManifest,
  fetchManifest,
  listTags,
  login,
  logout,
  openImage,
  pull as pullImage,
  push as pushImage,
  resolveDigest,
} from "../../registry/index.js";
import { parseCommandArgs } from "../args.js";
import type { Command } from "../command.js";
import { progressPrinter, registryFlags, registryOptions } from "../registry-flags.js";

const REGISTRY_FLAGS_HELP = [
  "Registry flags: --insecure (skip TLS verification), --plain-http, --ca-file FILE, -j/--jobs N,",
  "-q/--quiet. Credentials come from docker's config.json / credential helpers (see cairn login).",
];

function stripDocker(ref: string): string {
  return ref.startsWith("docker://") ? ref.slice("docker://".length) : ref;
}

export const pull: Command = {
  name: "pull",
  summary: "pull an image from a registry into the default store (or DEST)",
  usage: [
    "Usage: cairn pull [--platform P | --all-platforms] [registry flags] REF [DEST]",
    "",
    "Pulls REF into the default store under its full name, or into DEST (oci:DIR[:TAG],",
    "docker-archive:FILE[:REF], store:NAME). Blobs already present are skipped.",
    ...REGISTRY_FLAGS_HELP,
  ].join("\n"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "pull",
      args,
      { ...registryFlags, platform: { type: "string" }, "all-platforms": { type: "boolean" } },
      { min: 1, max: 2, names: "REF and an optional DEST" },
    );
    const ref = stripDocker(positionals[0] as string);
    const onProgress = progressPrinter(io, values.quiet === true);
    const options = {
      ...registryOptions(values),
      onProgress,
      ...(typeof values.platform === "string" ? { platform: values.platform } : {}),
      ...(values["all-platforms"] ? { allPlatforms: true } : {}),
    };
    if (positionals[1] !== undefined) {
      const result = await copyImage(`docker://${ref}`, positionals[1], options);
      io.out(`${positionals[1]}: ${result.digest}`);
      return 0;
    }
    const result = await pullImage(ref, options);
    io.out(`${result.tag ?? ref}: ${result.digest}`);
    return 0;
  },
};

export const push: Command = {
  name: "push",
  summary: "push an image (oci:, docker-archive:, store:/a stored name) to a registry",
  usage: [
    "Usage: cairn push [registry flags] SRC REF",
    "",
    "SRC is oci:DIR[:TAG], docker-archive:FILE[:REF], store:NAME, or a name in the default store.",
    "Blobs the registry has are skipped; blobs from another repository of the same registry are mounted.",
    ...REGISTRY_FLAGS_HELP,
  ].join("\n"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs("push", args, registryFlags, {
      min: 2,
      max: 2,
      names: "SRC and REF",
    });
    const [src, ref] = positionals as [string, string];
    const onProgress = progressPrinter(io, values.quiet === true);
    const source = await openImage(src.includes(":") || src.includes("/") ? src : `store:${src}`);
    const result = await pushImage(source, stripDocker(ref), { ...registryOptions(values), onProgress });
    io.out(
      `${stripDocker(ref)}: ${result.descriptor.digest} (${result.blobs.uploaded} uploaded, ${result.blobs.mounted} mounted, ${result.blobs.existing} already there)`,
    );
    return 0;
  },
};

/**
 * A command taking registry flags and one argument, printing the lines `action` returns.
 */
function oneArgCommand(
  name: string,
  summary: string,
  arg: string,
  usageLines: string[],
  action: (arg: string, options: ReturnType<typeof registryOptions>) => Promise<string[]>,
): Command {
  return {
    name,
    summary,
    usage: [
      `Usage: cairn ${name} [--json] [registry flags] ${arg}`,
      ...usageLines,
      "--json prints the result as a JSON array.",
      ...REGISTRY_FLAGS_HELP,
    ].join("\n"),
    async run(args, io) {
      const { values, positionals } = parseCommandArgs(
        name,
        args,
        { ...registryFlags, json: { type: "boolean" } },
        { min: 1, max: 1, names: arg },
      );
      const lines = await action(positionals[0] as string, registryOptions(values));
      if (values.json) io.out(JSON.stringify(lines));
      else for (const line of lines) io.out(line);
      return 0;
    },
  };
}

export const ls = oneArgCommand(
  "ls",
  "list the tags of a repository",
  "REPO",
  ["", "Example: cairn ls localhost:5000/acme/app"],
  (repo, options) => listTags(stripDocker(repo), options),
);

export const catalogCommand = oneArgCommand(
  "catalog",
  "list the repositories of a registry",
  "HOST",
  [],
  (host, options) => catalog(host, options),
);

export const digest = oneArgCommand(
  "digest",
  "print the digest of an image's manifest in a registry",
  "REF",
  [],
  async (ref, options) => [await resolveDigest(stripDocker(ref), options)],
);

export const deleteCommand = oneArgCommand(
  "delete",
  "delete a manifest from a registry (a tag is resolved to its digest first)",
  "REF",
  [],
  async (ref, options) => [`deleted ${await deleteManifest(stripDocker(ref), options)}`],
);

export const loginCommand: Command = {
  name: "login",
  summary: "check credentials against a registry and save them as docker does",
  usage: [
    "Usage: cairn login [registry flags] HOST -u USER (--password-stdin | -p PASSWORD)",
    "",
    "Verifies the credentials, then writes them to $DOCKER_CONFIG/config.json (or a configured",
    "credential helper). cairn logout HOST removes them.",
  ].join("\n"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "login",
      args,
      {
        ...registryFlags,
        username: { type: "string", short: "u" },
        password: { type: "string", short: "p" },
        "password-stdin": { type: "boolean" },
      },
      { min: 1, max: 1, names: "HOST" },
    );
    if (typeof values.username !== "string") throw new CairnError("E_USAGE", "login needs -u USER");
    const password = values["password-stdin"]
      ? readFileSync(0, "utf8").replace(/\r?\n$/, "")
      : typeof values.password === "string"
        ? values.password
        : undefined;
    if (password === undefined)
      throw new CairnError("E_USAGE", "login needs --password-stdin or -p PASSWORD");
    const host = positionals[0] as string;
    await login(host, { username: values.username, password, ...registryOptions(values) });
    io.out(`Login Succeeded (${host})`);
    return 0;
  },
};

export const logoutCommand: Command = {
  name: "logout",
  summary: "remove saved credentials for a registry",
  usage: "Usage: cairn logout HOST",
  async run(args, io) {
    const { positionals } = parseCommandArgs("logout", args, {}, { min: 1, max: 1, names: "HOST" });
    await logout(positionals[0] as string);
    io.out(`Removed login credentials for ${positionals[0]}`);
    return 0;
  },
};

/** `cairn inspect docker://REF`: the manifest and (for an image) the config from a registry. */
export async function inspectRemote(
  ref: string,
  values: Record<string, unknown>,
  out: (t: string) => void,
): Promise<number> {
  const options = registryOptions(values as never);
  if (values.raw) {
    const fetched = await fetchManifest(stripDocker(ref), options);
    out(Buffer.from(fetched.bytes).toString("utf8"));
    return 0;
  }
  const source = await openImage(ref, options);
  const parsed = parseManifest(await source.rawManifest(), undefined, { allowEmptyLayers: true });
  if (isImageIndex(source)) {
    out(
      JSON.stringify({ digest: parsed.digest, mediaType: parsed.mediaType, manifest: parsed.value }, null, 2),
    );
    return 0;
  }
  out(
    JSON.stringify(
      {
        digest: parsed.digest,
        mediaType: parsed.mediaType,
        manifest: parsed.value,
        config: await source.config(),
      },
      null,
      2,
    ),
  );
  return 0;
}
