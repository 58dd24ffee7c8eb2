/**
 * The `deployer` command (npm run deployer -- …, or the package's bin, cli/bin.mjs): runs one
 * command line with this process's streams and environment.
 */
import { runCli } from './program.js';

// A reader that stops early (`deployer history web --jsonl | head -1`) is no error of the CLI's.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
