/**
 * Build progress: events for each vertex (a FROM, RUN, COPY, ADD or WORKDIR step, the export)
 * and a printer that writes them as `docker build --progress=plain` does.
 */

/** What a build reports while it runs. */
export type BuildProgressEvent =
  | { kind: "vertex-start"; id: number; name: string }
  | { kind: "vertex-log"; id: number; text: string; elapsedMs: number }
  | { kind: "vertex-done"; id: number; cached: boolean; durationMs: number }
  | { kind: "vertex-error"; id: number; message: string; durationMs: number }
  | { kind: "warning"; message: string; line?: number };

/** Hands out vertex numbers and times vertices, emitting events. *
 * @example
 * ```ts
 * const progress = new ProgressReporter((e) => console.log(e));
 * const v = progress.start("[2/3] COPY . /app");
 * v.done(true);
 * ```
 */
export class ProgressReporter {
  private next = 1;

  constructor(private readonly listener: ((e: BuildProgressEvent) => void) | undefined) {}

  /** Starts a vertex; returns its handle. */
  start(name: string): Vertex {
    const id = this.next++;
    this.listener?.({ kind: "vertex-start", id, name });
    return new Vertex(id, this.listener);
  }

  warn(message: string, line?: number): void {
    this.listener?.(line === undefined ? { kind: "warning", message } : { kind: "warning", message, line });
  }
}

/** One running vertex. *
 * @example
 * ```ts
 * const v = progress.start("[3/3] RUN make");
 * v.log("compiling\n");
 * v.done();
 * ```
 */
export class Vertex {
  private readonly started = performance.now();
  private finished = false;

  constructor(
    readonly id: number,
    private readonly listener: ((e: BuildProgressEvent) => void) | undefined,
  ) {}

  private elapsed(): number {
    return performance.now() - this.started;
  }

  log(text: string): void {
    this.listener?.({ kind: "vertex-log", id: this.id, text, elapsedMs: this.elapsed() });
  }

  done(cached = false): void {
    if (this.finished) return;
    this.finished = true;
    this.listener?.({ kind: "vertex-done", id: this.id, cached, durationMs: this.elapsed() });
  }

  fail(message: string): void {
    if (this.finished) return;
    this.finished = true;
    this.listener?.({ kind: "vertex-error", id: this.id, message, durationMs: this.elapsed() });
  }
}

/**
 * A progress listener printing lines like BuildKit's plain progress:
 * `#3 [2/4] COPY app/ /app/`, then `#3 CACHED` or `#3 DONE 0.1s`, command output as
 * `#4 0.231 text`.
 *
 * @example
 * ```ts
 * await build({ context: ".", onProgress: plainProgress((line) => process.stderr.write(`${line}\n`)) });
 * ```
 */
export function plainProgress(write: (line: string) => void): (e: BuildProgressEvent) => void {
  const partial = new Map<number, string>();
  return (e) => {
    switch (e.kind) {
      case "vertex-start":
        write(`#${e.id} ${e.name}`);
        break;
      case "vertex-log": {
        const text = (partial.get(e.id) ?? "") + e.text;
        const lines = text.split("\n");
        partial.set(e.id, lines.pop() ?? "");
        for (const l of lines) write(`#${e.id} ${(e.elapsedMs / 1000).toFixed(3)} ${l}`);
        break;
      }
      case "vertex-done": {
        const rest = partial.get(e.id);
        if (rest) write(`#${e.id} ${(e.durationMs / 1000).toFixed(3)} ${rest}`);
        partial.delete(e.id);
        write(e.cached ? `#${e.id} CACHED` : `#${e.id} DONE ${(e.durationMs / 1000).toFixed(1)}s`);
        write("");
        break;
      }
      case "vertex-error":
        write(`#${e.id} ERROR: ${e.message}`);
        write("");
        break;
      case "warning":
        write(`WARNING: ${e.line === undefined ? "" : `line ${e.line}: `}${e.message}`);
        break;
    }
  };
}
