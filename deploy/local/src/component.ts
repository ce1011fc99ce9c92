/** The contract every piece of the local stack fulfils, so `up`, `down` and `status` treat them alike. */
export interface Health {
  ok: boolean;
  detail: string;
}

export interface AptBinary {
  /** An absolute path, or a command name looked up on PATH. */
  bin: string;
  pkg: string;
}

export interface Component {
  readonly name: string;
  readonly address: string;
  /** Components that must be healthy before this one starts. */
  readonly after: readonly string[];
  /** Debian packages this component's programs come from; `up` installs the missing ones in one apt run. */
  readonly apt: readonly AptBinary[];
  /** Fetches or builds what the component runs (cached across clones). */
  prepare?(): Promise<void>;
  /** Idempotent: 'running' when it was already up. Resolves once the component is healthy. */
  start(): Promise<'started' | 'running'>;
  /** Stops it only if this stack started it. Returns whether something was stopped. */
  stop(): Promise<boolean>;
  health(): Promise<Health>;
}
