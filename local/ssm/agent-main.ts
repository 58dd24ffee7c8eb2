/**
 * Runs one SSM agent stand-in as a process, as the fleet does inside each cluster's network
 * namespace (it then dials that namespace's 127.0.0.1:<portNumber>):
 *
 *   tsx local/ssm/agent-main.ts --mgs ws://10.200.0.1:4566 --target mi-0123456789abcdef0 [--agent-version 3.3.1142.0] [--quiet]
 */
import { parseArgs } from 'node:util';
import { startAgent } from './agent.js';

const { values } = parseArgs({
  options: {
    mgs: { type: 'string' },
    target: { type: 'string' },
    'agent-version': { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});

if (values.mgs === undefined || values.target === undefined) {
  console.error('usage: agent-main --mgs <ws url> --target <mi-…|i-…> [--agent-version x.y.z.w] [--quiet]');
  process.exit(2);
}

const log = values.quiet
  ? undefined
  : (message: string) => console.error(`${new Date().toISOString()} ${message}`);
const agent = await startAgent({
  mgsUrl: values.mgs,
  target: values.target,
  // The control channel is retried until the gateway answers; do not block on it.
  waitForConnection: false,
  ...(values['agent-version'] === undefined ? {} : { agentVersion: values['agent-version'] }),
  ...(log === undefined ? {} : { log }),
});
log?.(`agent ${values.target} started against ${values.mgs}`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void agent.stop().then(() => process.exit(0));
  });
}
