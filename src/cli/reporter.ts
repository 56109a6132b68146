/**
 * What a verb tells its user while it runs: on a terminal, a progress line redrawn at most every
 * 200 ms on stderr; with --json, one JSON object per line (progress, problems, the summary);
 * piped without --json, problems and the closing summary on stderr (a cron log keeps the
 * snapshot id). --quiet leaves out the summary and the progress line, never problems or errors.
 */
export interface ReporterOptions {
  verb: string;
  json: boolean;
  /** No summary and no progress line on stderr (JSON lines are still written). */
  quiet?: boolean | undefined;
  /** Where JSON lines go: stdout, unless stdout carries the verb's data. */
  jsonStream: NodeJS.WriteStream;
}

const redrawIntervalMs = 200;
const jsonProgressIntervalMs = 1000;

export class Reporter {
  readonly #options: ReporterOptions;
  readonly #terminal: boolean;
  readonly #startedMs = Date.now();
  #lastDrawMs = 0;
  #lineShown = false;
  problems = 0;

  constructor(options: ReporterOptions) {
    this.#options = options;
    this.#terminal = !options.json && options.quiet !== true && process.stderr.isTTY;
  }

  progress(entries: number, dataBytes: number, currentPath: string): void {
    const nowMs = Date.now();
    if (this.#options.json) {
      if (nowMs - this.#lastDrawMs < jsonProgressIntervalMs) return;
      this.#lastDrawMs = nowMs;
      this.#json({ type: 'progress', entries, dataBytes, currentPath, elapsedMs: nowMs - this.#startedMs });
      return;
    }
    if (!this.#terminal || nowMs - this.#lastDrawMs < redrawIntervalMs) return;
    this.#lastDrawMs = nowMs;
    const seconds = Math.max((nowMs - this.#startedMs) / 1000, 0.001);
    const line = `${entries} entries, ${formatBytes(dataBytes)}, ${formatBytes(dataBytes / seconds)}/s  ${currentPath}`;
    const width = process.stderr.columns || 80;
    process.stderr.write(`\r\x1b[K${line.length > width - 1 ? `${line.slice(0, width - 2)}…` : line}`);
    this.#lineShown = true;
  }

  /**
   * Progress of any shape: `fields` as a JSON line (at most once a second) with --json, `text()`
   * redrawn on a terminal (at most every 200 ms), nothing on a pipe.
   */
  status(fields: Record<string, unknown>, text: (elapsedSeconds: number) => string): void {
    const nowMs = Date.now();
    if (this.#options.json) {
      if (nowMs - this.#lastDrawMs < jsonProgressIntervalMs) return;
      this.#lastDrawMs = nowMs;
      this.#json({ type: 'progress', ...fields, elapsedMs: nowMs - this.#startedMs });
      return;
    }
    if (!this.#terminal || nowMs - this.#lastDrawMs < redrawIntervalMs) return;
    this.#lastDrawMs = nowMs;
    const line = text(Math.max((nowMs - this.#startedMs) / 1000, 0.001));
    const width = process.stderr.columns || 80;
    process.stderr.write(`\r\x1b[K${line.length > width - 1 ? `${line.slice(0, width - 2)}…` : line}`);
    this.#lineShown = true;
  }

  /** A line of information (where the default repository is): stderr, or a JSON line. */
  note(kind: string, fields: Record<string, unknown>, text: string): void {
    this.#clearLine();
    if (this.#options.json) this.#json({ type: kind, ...fields });
    else process.stderr.write(`${text}\n`);
  }

  /** A problem with one entry: it was left out, or restored not quite exactly. */
  problem(kind: 'skipped' | 'refused' | 'warning', path: string, error: Error | string): void {
    if (kind !== 'warning') this.problems++;
    const message = typeof error === 'string' ? error : error.message;
    const code = typeof error === 'string' ? undefined : (error as { code?: string }).code;
    if (this.#options.json) {
      this.#json({ type: kind, path, code, message });
      return;
    }
    this.#clearLine();
    const codeText = code !== undefined && !message.includes(code) ? ` [${code}]` : '';
    process.stderr.write(`holdfast ${this.#options.verb}: ${kind} "${path}": ${message}${codeText}\n`);
  }

  /** Milliseconds since the reporter was made (about when the verb started). */
  get elapsedMs(): number {
    return Date.now() - this.#startedMs;
  }

  /** What the verb did: a JSON line with --json, else a line on stderr, terminal or not; none with --quiet. */
  summary(fields: Record<string, unknown>, text: string): void {
    this.#clearLine();
    if (this.#options.json) this.#json({ type: 'summary', ...fields, elapsedMs: this.elapsedMs });
    else if (this.#options.quiet !== true) process.stderr.write(`${text}\n`);
  }

  fatal(error: unknown): void {
    this.#clearLine();
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown } | null)?.code;
    if (this.#options.json) this.#json({ type: 'error', code, message });
    process.stderr.write(`holdfast ${this.#options.verb}: ${message}${typeof code === 'string' && !message.includes(code) ? ` [${code}]` : ''}\n`);
  }

  #clearLine(): void {
    if (!this.#lineShown) return;
    process.stderr.write('\r\x1b[K');
    this.#lineShown = false;
  }

  #json(value: Record<string, unknown>): void {
    this.#options.jsonStream.write(`${JSON.stringify(value)}\n`);
  }
}

export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${String(rest).padStart(2, '0')}` : `${minutes}:${String(rest).padStart(2, '0')}`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
