/**
 * Where a stage starts: `scratch`, a previous stage (handled by the build), or an image found
 * by its name in the default store, at a local transport (`oci:DIR[:TAG]`,
 * `docker-archive:FILE[:REF]`), or in a registry (pulled into the store once, tagged with its full
 * name, so later builds use the local copy as `docker build` does). The planner only
 * accepts image references, so transport locations are given it as stand-in references.
 */

import { digestBytes } from "../digest/index.js";
import type { DockerfileAst, Instruction } from "../dockerfile/index.js";
import { CairnError, isCairnError } from "../errors/index.js";
import { type Image, type ImageIndex, type ImageLayout, isImageIndex, openLocal } from "../image/index.js";
import { formatPlatform, type Platform } from "../manifest/index.js";
import { parseReference } from "../reference/index.js";
import { type RegistryOptions, registryGet } from "../registry/index.js";

const TRANSPORT = /^(oci|docker-archive):/;
const ALIAS_DOMAIN = "cairn-transport.invalid";

/** Options for {@link BaseResolver}. */
export interface BaseResolverOptions {
  /** The store bases are looked up in and pulled into. */
  store: ImageLayout;
  /** Look in registries for images the store lacks (default true). */
  registry?: boolean;
  /** Registry settings (TLS, auth, clients). */
  registryOptions?: RegistryOptions;
  signal?: AbortSignal;
}

/** A base image and where it came from. */
export interface ResolvedBase {
  image: Image;
  /** Where it was found: `store`, `oci:…`, `docker-archive:…`, `docker://…`. */
  source: string;
}

/**
 * Finds base images (and `COPY --from` images) for a build, each once per platform.
 *
 * @example
 * ```ts
 * const bases = new BaseResolver({ store: await ImageLayout.openDefault() });
 * const { ast, buildArgs } = bases.rewrite(parseDockerfile(text), {});
 * const base = await bases.resolve("docker.io/library/alpine:3.20", { os: "linux", architecture: "amd64" });
 * ```
 */
export class BaseResolver {
  private readonly aliases = new Map<string, string>();
  private readonly memo = new Map<string, Promise<ResolvedBase>>();

  constructor(private readonly options: BaseResolverOptions) {}

  private alias(location: string): string {
    const name = `${ALIAS_DOMAIN}/l${digestBytes(location).slice(7, 23)}:latest`;
    this.aliases.set(parseReference(name).toString(), location);
    return name;
  }

  private maybeAlias(value: string): string {
    return TRANSPORT.test(value) ? this.alias(value) : value;
  }

  /** The transport location a stand-in reference names, else the reference itself. */
  displayName(reference: string): string {
    return this.aliases.get(reference) ?? reference;
  }

  /**
   * Replaces transport locations in FROM lines, `COPY --from` flags, global ARG defaults and
   * build args by stand-in references the planner accepts.
   */
  rewrite(
    ast: DockerfileAst,
    buildArgs: Readonly<Record<string, string>>,
  ): { ast: DockerfileAst; buildArgs: Record<string, string> } {
    const fix = (ins: Instruction): Instruction => {
      if (ins.keyword === "FROM" && ins.args[0] !== undefined) {
        return { ...ins, args: [this.maybeAlias(ins.args[0]), ...ins.args.slice(1)] };
      }
      if (ins.keyword === "COPY") {
        return {
          ...ins,
          flags: ins.flags.map((f) => {
            const m = /^--from=(.*)$/s.exec(f);
            return m ? `--from=${this.maybeAlias(m[1] as string)}` : f;
          }),
        };
      }
      if (ins.keyword === "ARG") {
        return {
          ...ins,
          args: ins.args.map((a) => {
            const eq = a.indexOf("=");
            return eq < 0 ? a : `${a.slice(0, eq + 1)}${this.maybeAlias(a.slice(eq + 1))}`;
          }),
        };
      }
      return ins;
    };
    const args: Record<string, string> = {};
    for (const [k, v] of Object.entries(buildArgs)) args[k] = this.maybeAlias(v);
    return { ast: { ...ast, instructions: ast.instructions.map(fix) }, buildArgs: args };
  }

  /** The image `reference` names, for `platform`. */
  resolve(reference: string, platform: Platform): Promise<ResolvedBase> {
    const key = `${reference}|${formatPlatform(platform)}`;
    let found = this.memo.get(key);
    if (!found) {
      found = this.find(reference, platform);
      this.memo.set(key, found);
      found.catch(() => this.memo.delete(key));
    }
    return found;
  }

  private async pick(got: Image | ImageIndex, platform: Platform): Promise<Image> {
    return isImageIndex(got) ? got.image(platform) : got;
  }

  private async find(reference: string, platform: Platform): Promise<ResolvedBase> {
    const location = this.aliases.get(reference);
    if (location !== undefined) {
      return { image: await this.pick(await openLocal(location), platform), source: location };
    }
    const store = this.options.store;
    const ref = parseReference(reference);
    const candidates = [...new Set([reference, ref.familiar(), ref.toString()])];
    if (ref.tag === "latest" && !ref.digest) candidates.push(ref.familiarName, ref.name);
    for (const name of candidates) {
      try {
        return { image: await this.pick(await store.get(name), platform), source: "store" };
      } catch (err) {
        if (!isCairnError(err, "E_NOT_FOUND")) throw err;
      }
    }
    if (ref.digest) {
      try {
        return { image: await this.pick(await store.get(ref.digest), platform), source: "store" };
      } catch (err) {
        if (!isCairnError(err, "E_NOT_FOUND")) throw err;
      }
    }
    if (this.options.registry === false) {
      throw new CairnError(
        "E_NOT_FOUND",
        `base image ${ref.familiar()} is not in the default store at ${store.dir} and registries are off`,
        { details: { expected: `an image tagged ${ref.familiar()} in the store (cairn pull it first)` } },
      );
    }
    let remote: Image;
    try {
      const got = await registryGet(ref, {
        ...(this.options.registryOptions ?? {}),
        ...(this.options.signal ? { signal: this.options.signal } : {}),
      });
      remote = await this.pick(got, platform);
    } catch (err) {
      if (!isCairnError(err)) throw err;
      throw new CairnError(
        isCairnError(err, "E_AUTH") ? "E_AUTH" : "E_NOT_FOUND",
        `base image ${ref.familiar()} is not in the default store at ${store.dir} and pulling it failed: ${err.message}`,
        { cause: err },
      );
    }
    // Tagged under its full name, as a pull would: later builds find it without the network.
    const descriptor = await store.write(remote, {
      ...(ref.digest === undefined ? { tag: ref.toString() } : {}),
      ...(this.options.signal ? { signal: this.options.signal } : {}),
    });
    return { image: await store.image(descriptor.digest), source: `docker://${ref.toString()}` };
  }
}
