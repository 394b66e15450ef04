/** The scope asking to list a registry's repositories. */
export const CATALOG_SCOPE = "registry:catalog:*";

/**
 * A repository scope for a token request: `repository:NAME:ACTIONS`.
 *
 * @example
 * ```ts
 * repositoryScope("acme/app", ["pull", "push"]) // "repository:acme/app:pull,push"
 * ```
 */
export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(",")}`;
}

/** Splits `type:name:actions` at its first and last colon. */
function splitScope(scope: string): { resource: string; actions: string[] } | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first < 0 || last === first) return undefined;
  return {
    resource: scope.slice(0, last),
    actions: scope
      .slice(last + 1)
      .split(",")
      .filter(Boolean),
  };
}

/**
 * Merges scopes on the same resource into one each, with sorted actions, sorted by resource:
 * the form tokens are requested and cached in. Unreadable scopes are kept as they are.
 *
 * @example
 * ```ts
 * mergeScopes(["repository:a:push", "repository:a:pull", "repository:b:pull"])
 * // ["repository:a:pull,push", "repository:b:pull"]
 * ```
 */
export function mergeScopes(scopes: Iterable<string>): string[] {
  const byResource = new Map<string, Set<string>>();
  const odd = new Set<string>();
  for (const scope of scopes) {
    for (const part of scope.split(" ")) {
      if (part === "") continue;
      const s = splitScope(part);
      if (!s) {
        odd.add(part);
        continue;
      }
      let set = byResource.get(s.resource);
      if (!set) {
        set = new Set();
        byResource.set(s.resource, set);
      }
      for (const a of s.actions) set.add(a);
    }
  }
  const out = [...byResource].map(([resource, actions]) => `${resource}:${[...actions].sort().join(",")}`);
  return [...out, ...odd].sort();
}

/**
 * True when the scopes in `have` grant everything in `want` (`*` grants every action).
 *
 * @example
 * ```ts
 * scopesCover(["repository:a:pull,push"], ["repository:a:pull"]) // true
 * ```
 */
export function scopesCover(have: readonly string[], want: readonly string[]): boolean {
  const granted = new Map<string, Set<string>>();
  for (const h of mergeScopes(have)) {
    const s = splitScope(h);
    if (s) granted.set(s.resource, new Set(s.actions));
  }
  for (const w of mergeScopes(want)) {
    const s = splitScope(w);
    if (!s) {
      if (!have.includes(w)) return false;
      continue;
    }
    const g = granted.get(s.resource);
    if (!g) return false;
    if (!g.has("*") && !s.actions.every((a) => g.has(a))) return false;
  }
  return true;
}
