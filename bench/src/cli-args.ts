/**
 * Command-line options of a bench script: node's `parseArgs`, plus `--help`, which prints the script's own header
 * comment (where each script documents its options, so the usage cannot drift from it), and a one-line error for an
 * unknown or malformed option instead of a stack trace.
 */
import fs from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { parseArgs } from 'node:util';

function usage(): string {
  const script = process.argv[1] ?? '';
  const header = /\/\*\*([\s\S]*?)\*\//.exec(fs.readFileSync(script, 'utf8'))?.[1] ?? '';
  const lines = header.split('\n').map((line) => line.replace(/^\s*\* ?/, ''));
  return `${lines.join('\n').trim()}\n`;
}

export function benchArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  const argv = config.args ?? process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage());
    process.exit(0);
  }
  try {
    return parseArgs(config);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(err as Error).message}\n--help lists the options.\n`);
      process.exit(2);
    }
    throw err;
  }
}
