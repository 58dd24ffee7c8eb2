/**
 * What the CLI needs from its process, passed in so that the tests run it in-process: its output
 * streams, its environment, a clock and a sleep; and the errors that end a command with an exit code.
 */
import type { AwsCredentialIdentity } from '@smithy/types';

export interface Output {
  write(chunk: string): unknown;
  /** True on a terminal: `watch` redraws in place instead of printing change lines. */
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export interface Io {
  stdout: Output;
  stderr: Output;
  env: Record<string, string | undefined>;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** AWS credentials for --stack and --api-url (default: the default credential chain). */
  awsCredentials?: () => Promise<AwsCredentialIdentity>;
}

/** Exit codes: 0 done, 1 refused or failed (API refusal, invalid config, deployment not succeeded), 2 usage. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** An error that ends the command: its message goes to stderr, its code is the exit code. */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

/** The command line asks for something the CLI cannot do as asked (exit 2). */
export class UsageError extends CliError {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

export const writeLines = (out: Output, lines: string[]): void => {
  if (lines.length > 0) out.write(`${lines.join('\n')}\n`);
};
