import { parseArgs } from 'node:util';
import { buildAndPushDemoImage } from './demo-image.js';
import { down, fleetMemory, status, up } from './fleet.js';
import type { FleetOptions } from './layout.js';
import { FleetError } from './sys.js';

const USAGE = `usage: npm run fleet -- <command> [options]

commands:
  up        bring up the local fleet (idempotent; cleans up after a crashed run)
  status    show the fleet (--json: one JSON document)
  down      tear everything down: processes, namespaces, veths, cgroups, mounts, rules, state
  push-demo build the demo app image FROM scratch and push it to the fleet's registry

options:
  --clusters N      number of Swarm clusters (default 3)
  --name NAME       prefix of namespaces and interfaces (default dpl)
  --subnet X        use 10.X.0.0/16 (default 231)
  --json            machine-readable output
  push-demo: --tag TAG [--version V] [--error-rate R] [--latency-ms MS] [--traffic-rps N] [--crash]`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      clusters: { type: 'string' },
      name: { type: 'string' },
      subnet: { type: 'string' },
      json: { type: 'boolean', default: false },
      tag: { type: 'string' },
      version: { type: 'string' },
      'error-rate': { type: 'string' },
      'latency-ms': { type: 'string' },
      'traffic-rps': { type: 'string' },
      crash: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  const opts: Partial<FleetOptions> = {
    name: values.name,
    clusters: values.clusters === undefined ? undefined : Number(values.clusters),
    subnet: values.subnet === undefined ? undefined : Number(values.subnet),
  };
  const say = values.json ? () => {} : (line: string) => console.log(line);
  switch (command) {
    case 'up': {
      const started = Date.now();
      const s = await up(opts, say);
      if (values.json) console.log(JSON.stringify(s, null, 2));
      else
        say(
          `fleet ${s.name} is up in ${((Date.now() - started) / 1000).toFixed(1)} s; \`npm run fleet -- status\` for details`,
        );
      return s.healthy ? 0 : 1;
    }
    case 'status': {
      const s = await status(opts);
      if (values.json) {
        console.log(JSON.stringify(s, null, 2));
      } else {
        const mem = await fleetMemory(opts);
        say(
          `fleet ${s.name}: ${s.healthy ? 'healthy' : 'NOT HEALTHY'}, ${mem.processes} processes, ${(mem.rssBytes / 2 ** 20).toFixed(0)} MiB RSS`,
        );
        for (const c of s.clusters) {
          say(
            `  ${c.name}  ${c.healthy ? 'ok ' : 'BAD'}  manager ${c.address}  DOCKER_HOST=${c.dockerHost}  prometheus ${c.prometheusUrl}`,
          );
        }
        say(
          `  registry ${s.registry.healthy ? 'ok ' : 'BAD'}  ${s.registry.address}  user ${s.registry.username}  (password: status --json)`,
        );
      }
      return s.healthy ? 0 : 1;
    }
    case 'down':
      await down(opts);
      say('fleet is down: nothing left behind');
      return 0;
    case 'push-demo': {
      if (!values.tag) throw new FleetError('push-demo needs --tag', 'npm run fleet -- push-demo --tag v2');
      const s = await status(opts);
      const image = await buildAndPushDemoImage(s.registry, {
        tag: values.tag,
        version: values.version ?? values.tag,
        errorRate: values['error-rate'] === undefined ? undefined : Number(values['error-rate']),
        latencyMs: values['latency-ms'] === undefined ? undefined : Number(values['latency-ms']),
        trafficRps: values['traffic-rps'] === undefined ? undefined : Number(values['traffic-rps']),
        crash: values.crash,
      });
      console.log(
        values.json ? JSON.stringify(image) : `pushed ${image.reference} (${image.digestReference})`,
      );
      return 0;
    }
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`fleet: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
