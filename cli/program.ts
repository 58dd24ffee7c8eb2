/**
 * The `deployer` command line (commander): list, status, watch, the actions on a deployment, undo,
 * retry and apply, history, config validate. `runCli` runs one command line against the given `Io`
 * and returns the exit code, so that the tests run the CLI in-process.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEPLOYMENT_STATUSES } from '../functions/lib/deploy/view.js';
import { ApiClient } from './client.js';
import { validateConfigFile } from './config-validate.js';
import { CliError, EXIT, type Io, UsageError, writeLines } from './io.js';
import {
  actionResultLine,
  historyTable,
  listTable,
  localClock,
  renderTree,
  startedResultLines,
} from './render.js';
import { resolveTarget, type TargetFlags } from './target.js';
import { watch } from './watch.js';

export const STATUSES = DEPLOYMENT_STATUSES;

/** The page size `list --all` and `history` ask for: the API's largest (its default is 20). */
const PAGE_LIMIT = 100;

const ACTIONS = [
  ['approve', 'approve a canary that awaits a decision: promote it'],
  ['reject', 'reject a canary that awaits a decision: roll it back'],
  ['abort', 'stop a deployment and roll back what it changed'],
  ['promote', 'skip the remaining analysis and promote now'],
  ['pause', 'pause a deployment before its next wave'],
  ['resume', 'resume a paused deployment'],
] as const;

const HELP_FOOTER = `
Targets (exactly one):
  --local             the local twin (npm run local -- up): its URL and operator credentials
                      from <fleet state dir>/runtime.json (FLEET_STATE_DIR, DEPLOYER_RUNTIME_FILE)
  --stack NAME        the apiUrl output of a Pulumi stack (pulumi stack output, run in infra/);
                      DEPLOYER_API_URL overrides it where pulumi is not installed
  --api-url URL       an API URL
  or DEPLOYER_TARGET=local | stack:NAME | URL, or DEPLOYER_API_URL=URL.
  --stack and --api-url sign with the default AWS credential chain (AWS_PROFILE, env, SSO, role);
  the region comes from the execute-api host name, else AWS_REGION.

Exit codes: 0 done (watch: the deployment succeeded); 1 the API refused or failed, the
configuration is invalid, or the watched deployment did not succeed; 2 usage (bad arguments,
or a 400 from the API).`;

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

const seconds = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 3600)
    throw new InvalidArgumentError('expected seconds, more than 0 and at most 3600');
  return n;
};

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

function buildProgram(io: Io, setCode: (code: number) => void): Command {
  const now = () => (io.now ?? (() => new Date()))();
  const client = async (cmd: Command) =>
    new ApiClient(await resolveTarget(cmd.optsWithGlobals<TargetFlags>(), io));

  const program = new Command('deployer')
    .description('See and steer the progressive deployments of Docker Swarm services.')
    .option('--local', 'talk to the local twin (npm run local -- up)')
    .option('--stack <name>', "talk to a Pulumi stack's API (its apiUrl output)")
    .option('--api-url <url>', 'talk to the API at this URL')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showHelpAfterError('(deployer --help for usage)')
    .addHelpText('after', HELP_FOOTER);

  program
    .command('list')
    .description('deployments, newest first')
    .option('--service <service>', 'only this service')
    .addOption(new Option('--status <status>', 'only deployments in this status').choices(STATUSES))
    .option('--limit <n>', 'at most this many per page', positiveInt)
    .option('--next <token>', 'the page after this token (from a previous --json answer)')
    .option('--all', 'every page')
    .option('--json', 'print JSON')
    .action(async (opts, cmd: Command) => {
      const api = await client(cmd);
      const query = { service: opts.service, status: opts.status, limit: opts.limit };
      if (opts.all) {
        const items = await api.allDeployments({ ...query, limit: opts.limit ?? PAGE_LIMIT });
        if (opts.json) io.stdout.write(json({ items }));
        else writeLines(io.stdout, listTable(items, now()));
        return;
      }
      const page = await api.listDeployments({ ...query, next: opts.next });
      if (opts.json) io.stdout.write(json(page));
      else {
        writeLines(io.stdout, listTable(page.items, now()));
        if (page.next) io.stderr.write(`more deployments: --all, or --next ${page.next}\n`);
      }
    });

  program
    .command('status')
    .description('one deployment: its clusters, analysis rounds, waves and actions')
    .argument('<id>', 'deployment id')
    .option('--json', 'print JSON')
    .action(async (id: string, opts, cmd: Command) => {
      const view = await (await client(cmd)).getDeployment(id);
      if (opts.json) {
        io.stdout.write(json(view));
        return;
      }
      writeLines(io.stdout, [
        ...renderTree(view, { now: now(), clock: localClock }),
        `execution: ${view.execution.consoleUrl || view.execution.arn}`,
      ]);
    });

  program
    .command('watch')
    .description(
      'follow a deployment live until it ends (a tree redrawn in place on a terminal, change lines otherwise)',
    )
    .argument('[id]', 'deployment id')
    .option('--service <service>', "follow this service's newest deployment")
    .option('--interval <seconds>', 'seconds between polls', seconds, 2)
    .option('--json', 'print each new state as one JSON line')
    .option(
      '--wait <seconds>',
      'how long a deployment not recorded yet (queued for its lock) is waited for',
      (v: string) => (v === '0' ? 0 : seconds(v)),
      300,
    )
    .action(async (id: string | undefined, opts, cmd: Command) => {
      if ((id === undefined) === (opts.service === undefined))
        throw new UsageError('watch needs a deployment id or --service NAME (one of them)');
      const code = await watch(await client(cmd), io, {
        ...(id === undefined ? { service: opts.service as string } : { id }),
        intervalMs: Math.round((opts.interval as number) * 1000),
        startTimeoutMs: Math.round((opts.wait as number) * 1000),
        json: opts.json === true,
      });
      setCode(code);
    });

  for (const [action, description] of ACTIONS) {
    program
      .command(action)
      .description(description)
      .argument('<id>', 'deployment id')
      .option('--reason <text>', 'why (recorded with your IAM identity)')
      .option('--json', 'print JSON')
      .action(async (id: string, opts, cmd: Command) => {
        const { body } = await (await client(cmd)).act(id, action, opts.reason);
        if (opts.json) io.stdout.write(json(body));
        else writeLines(io.stdout, [actionResultLine(body)]);
      });
  }

  program
    .command('undo')
    .description("deploy the service's previous digest as a new deployment, through the same workflow")
    .argument('<service>', 'service (policy) name')
    .option('--reason <text>', 'why (recorded with your IAM identity)')
    .option('--json', 'print JSON')
    .action(async (service: string, opts, cmd: Command) => {
      const { body } = await (await client(cmd)).undo(service, opts.reason);
      if (opts.json) io.stdout.write(json(body));
      else writeLines(io.stdout, startedResultLines(body));
    });

  program
    .command('retry')
    .description("redeploy a failed or rolled-back deployment's digest (default: the service's latest such)")
    .argument('<service>', 'service (policy) name')
    .option('--deployment <id>', 'the deployment to retry')
    .option('--reason <text>', 'why (recorded with your IAM identity)')
    .option('--json', 'print JSON')
    .action(async (service: string, opts, cmd: Command) => {
      const { body } = await (await client(cmd)).retry(service, opts.deployment, opts.reason);
      if (opts.json) io.stdout.write(json(body));
      else writeLines(io.stdout, startedResultLines(body));
    });

  program
    .command('apply')
    .description(
      "redeploy the digest of the service's latest successful deployment under its policy as it is now (a spec-only change: environment, resources, secrets…)",
    )
    .argument('<service>', 'service (policy) name')
    .option('--reason <text>', 'why (recorded with your IAM identity)')
    .option('--json', 'print JSON')
    .action(async (service: string, opts, cmd: Command) => {
      const { body } = await (await client(cmd)).apply(service, opts.reason);
      if (opts.json) io.stdout.write(json(body));
      else writeLines(io.stdout, startedResultLines(body));
    });

  program
    .command('history')
    .description(
      "a service's audit trail: every deployment, its clusters' digests before and after, outcome, approver and actions",
    )
    .argument('<service>', 'service name')
    .addOption(new Option('--jsonl', 'one JSON object per deployment and line (an export)').conflicts('json'))
    .option('--json', 'print one JSON array')
    .action(async (service: string, opts, cmd: Command) => {
      const items = await (await client(cmd)).allDeployments({ service, limit: PAGE_LIMIT });
      if (opts.jsonl) for (const item of items) io.stdout.write(`${JSON.stringify(item)}\n`);
      else if (opts.json) io.stdout.write(json(items));
      else writeLines(io.stdout, historyTable(items));
    });

  const config = program.command('config').description('the configuration of clusters and service policies');
  config
    .command('validate')
    .description(
      'check a cluster, a service policy or {clusters: […], policies: […]} (JSON) with the schemas the deployer uses',
    )
    .argument('<file>', 'a JSON file')
    .action(async (file: string) => {
      const result = await validateConfigFile(file);
      if (result.errors.length === 0) {
        writeLines(io.stdout, [`${file}: valid (${result.summary})`]);
        return;
      }
      writeLines(io.stderr, [
        `${file}: invalid${result.kind ? ` ${result.kind}` : ''}`,
        ...result.errors.map((e) => `  ${e}`),
      ]);
      setCode(EXIT.failed);
    });

  return program;
}

/** Runs one command line; returns its exit code. Never throws. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    // commander has printed its own message (unknown option, missing argument, help).
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CliError) {
      io.stderr.write(`deployer: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr.write(`deployer: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT.failed;
  }
}
