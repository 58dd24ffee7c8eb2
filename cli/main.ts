/**
 * The `deployer` command (npm run deployer -- …, or the package's bin, cli/bin.mjs): runs one
 * command line with this process's streams and environment.
 */
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
