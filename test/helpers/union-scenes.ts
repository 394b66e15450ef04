/**
 * Multi-layer images for the unionfs tests: deletions, opaque directories, replacements of
 * every kind, hardlinks into lower layers, writes through symlinked parents.
 */
import type { LayerEntry } from "../../src/layer/index.js";
import { opaqueEntry, whiteoutEntry } from "../../src/layer/index.js";
import { isRoot } from "./tools.js";
import { dir, file, hard, link } from "./union.js";

/** The base layer. */
export function baseLayer(): LayerEntry[] {
  const entries: LayerEntry[] = [
    dir("etc"),
    file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
    file("etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640, 0, 42),
    dir("etc/conf.d", 0o750),
    file("etc/conf.d/a.conf", "a=1\n"),
    file("etc/conf.d/b.conf", "b=2\n"),
    dir("var"),
    dir("var/cache", 0o700, 1000, 1000),
    file("var/cache/a", "cached a\n", 0o600, 1000, 1000),
    dir("var/cache/sub"),
    file("var/cache/sub/b", "cached b\n"),
    dir("opt"),
    dir("opt/v1"),
    file("opt/v1/bin", "#!/bin/sh\necho v1\n", 0o755),
    link("opt/current", "v1"),
    dir("usr"),
    dir("usr/bin"),
    file("usr/bin/tool", "tool binary\n", 0o4755),
    hard("usr/bin/tool-alias", "usr/bin/tool"),
    dir("usr/lib"),
    file("usr/lib/libc.so", "libc\n", 0o755),
    link("lib", "usr/lib"),
    dir("home", 0o755),
    dir("home/user", 0o700, 1000, 1000),
    file("home/user/.profile", "PS1='$ '\n", 0o644, 1000, 1000),
    dir("data"),
    file("data/replaced-by-dir", "I was a file\n"),
    dir("data/dir-to-file"),
    file("data/dir-to-file/inner", "inner\n"),
    file("data/file-to-link", "plain\n"),
    dir("srv"),
    dir("srv/old"),
    file("srv/old/index.html", "<h1>old</h1>\n"),
    dir("tmp", 0o1777),
    dir("empty-later"),
    file("empty-later/x", "x\n"),
    file("empty-later/y", "y\n"),
  ];
  if (isRoot()) {
    entries.push(dir("dev"), {
      path: "dev/null",
      type: "char-device",
      devmajor: 1,
      devminor: 3,
      mode: 0o666,
      mtime: 1_600_000_000,
    });
  }
  entries.push(dir("run"), { path: "run/initctl", type: "fifo", mode: 0o600, mtime: 1_600_000_000 });
  return entries;
}

/** Second layer: whiteouts, an opaque directory, replacements, a hardlink to a lower file. */
export function secondLayer(): LayerEntry[] {
  return [
    whiteoutEntry("etc/shadow"),
    file("etc/passwd", "root:x:0:0:root:/root:/bin/ash\n", 0o600),
    // no "etc/conf.d" entry: the directory is copied up with its attributes
    file("etc/conf.d/c.conf", "c=3\n"),
    whiteoutEntry("etc/conf.d/a.conf"),
    dir("var/cache", 0o755, 1000, 1000),
    opaqueEntry("var/cache"),
    file("var/cache/new", "new cache\n"),
    dir("data/replaced-by-dir"),
    file("data/replaced-by-dir/child", "now a dir\n"),
    file("data/dir-to-file", "now a file\n"),
    link("data/file-to-link", "../etc/passwd"),
    link("opt/current", "v2"),
    dir("opt/v2"),
    file("opt/v2/bin", "#!/bin/sh\necho v2\n", 0o755),
    whiteoutEntry("srv/old"),
    // written through the lower symlink lib -> usr/lib
    file("lib/extra.so", "extra\n", 0o755),
    hard("usr/bin/tool-l2", "usr/bin/tool"),
    opaqueEntry("empty-later"),
    whiteoutEntry("does/not/exist"),
  ];
}

/** Third layer: removes a directory tree, recreates a removed one, hides and re-creates in one layer. */
export function thirdLayer(): LayerEntry[] {
  return [
    whiteoutEntry("opt/v1"),
    dir("srv/old"),
    file("srv/old/new.html", "<h1>new</h1>\n"),
    whiteoutEntry("home"),
    dir("home", 0o750),
    file("home/fresh", "fresh\n"),
    whiteoutEntry("usr/lib/libc.so"),
    whiteoutEntry("etc/passwd"),
    file("etc/passwd", "root:x:0:0::/root:/bin/zsh\n"),
  ];
}

/** An image where a later layer makes the root opaque. */
export function opaqueRootLayers(): LayerEntry[][] {
  return [
    [dir("a"), file("a/1", "1\n"), file("top", "top\n")],
    [opaqueEntry(""), dir("b"), file("b/2", "2\n")],
  ];
}
