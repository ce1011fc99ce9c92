/** A failure of one stack component, said the way an operator needs it: what failed, why, and what to do. */
export class StackError extends Error {
  readonly code: string;
  readonly component: string;
  readonly fix: string;
  readonly logFile: string | undefined;

  constructor(opts: {
    code: string;
    component: string;
    message: string;
    fix: string;
    logFile?: string;
    cause?: unknown;
  }) {
    super(opts.message, { cause: opts.cause });
    this.name = 'StackError';
    this.code = opts.code;
    this.component = opts.component;
    this.fix = opts.fix;
    this.logFile = opts.logFile;
  }

  describe(): string {
    const lines = [`${this.component}: ${this.message} [${this.code}]`, `  fix: ${this.fix}`];
    if (this.logFile) lines.push(`  log: ${this.logFile}`);
    return lines.join('\n');
  }
}
