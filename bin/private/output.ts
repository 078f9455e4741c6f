/**
 * The one place that prints. Commands build their text and hand it here, so tests can
 * capture output through an injected writer instead of patching the console.
 */
export interface Output {
  /** Writes one line to standard output. */
  out(line: string): void;
  /** Writes one line to standard error. */
  err(line: string): void;
}

/** Output to the process's streams. */
export const CONSOLE_OUTPUT: Output = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/** Output collected in memory, for tests. */
export class BufferedOutput implements Output {
  public readonly stdout: string[] = [];
  public readonly stderr: string[] = [];
  public out(line: string): void {
    this.stdout.push(line);
  }
  public err(line: string): void {
    this.stderr.push(line);
  }
  public get text(): string {
    return this.stdout.join('\n');
  }
}
