/**
 * Generates docs/configuration.md from the zod schemas the deployer validates its configuration
 * with: the cluster and service policy schemas the handlers read Parameter Store with
 * (functions/lib/config/schema.ts, the analysis model of functions/lib/analysis), and the stack
 * configuration's own keys (infra/config.ts). Every field's type, whether it is required, its
 * default and its constraints come from the schemas themselves; only the descriptions are written
 * here, in DESCRIPTIONS, keyed by field path (zod/mini's `z.describe` would put every description
 * into each Lambda bundle that imports the schemas).
 *
 * The generator fails, naming the field, when a schema field has no description, when a
 * description names a field that no longer exists, or when an example no longer validates, so the
 * reference cannot silently miss or misdescribe a field.
 *
 *   npm run docs:config               writes docs/configuration.md
 *   npm run docs:config -- --check    exits 1 when docs/configuration.md is not up to date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import {
  metricEntrySchema,
  metricSchema,
  TEMPLATE_VARIABLES,
  TEMPLATES,
} from '../../functions/lib/analysis/index.js';
import {
  clusterSchema,
  prometheusAuthSchema,
  secretRefSchema,
  servicePolicySchema,
} from '../../functions/lib/config/schema.js';
import { configPaths, parseParameter } from '../../functions/lib/config/store.js';
import type * as z from '../../functions/lib/zod.js';
import {
  PROJECT,
  parseStackConfig,
  type RawStackConfig,
  schemas as stackSchemas,
} from '../../infra/config.js';

/** Where the generated reference lives. */
export const OUTPUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'configuration.md');

/** A schema or a field the reference cannot document: names the field. */
export class ConfigReferenceError extends Error {
  override readonly name = 'ConfigReferenceError';
}

type Schema = z.core.$ZodType;
interface Def {
  type: string;
  [key: string]: unknown;
}
interface CheckDef {
  check: string;
  [key: string]: unknown;
}

const defOf = (s: Schema): Def => s._zod.def as unknown as Def;
const checksOf = (s: Schema): CheckDef[] =>
  ((defOf(s).checks as Array<{ _zod: { def: unknown } }> | undefined) ?? []).map(
    (c) => c._zod.def as CheckDef,
  );
/** A check's own message (`z.regex(re, 'message')`), when it has one. */
const messageOf = (c: CheckDef): string | undefined => {
  const error = c.error;
  const message = typeof error === 'function' ? (error as (issue: unknown) => unknown)({}) : error;
  return typeof message === 'string' ? message : undefined;
};

// -- descriptions ---------------------------------------------------------------------------------------

/**
 * One sentence or two per field, keyed `<section>.<path>`: `[]` is an array's item, `<name>` a
 * map's key. Every field the schemas have must be here, and nothing else.
 */
export type Descriptions = Readonly<Record<string, string>>;

export const DESCRIPTIONS: Descriptions = {
  // Cluster
  'cluster.name':
    "The cluster's name, used by service policies and waves; it must be the last part of its parameter name (`<prefix>/clusters/<name>`).",
  'cluster.region':
    "The AWS region of the manager's SSM registration: the deployer starts its sessions there.",
  'cluster.target':
    "The Swarm manager as an SSM managed instance: an EC2 instance id (`i-…`) or an on-premises managed instance id from a hybrid activation (`mi-…`). It must carry the deployer's instance tag.",
  'cluster.engine':
    'How the Docker Engine API is reached on the manager, through the Session Manager port forward.',
  'cluster.engine.port':
    "The Engine API's port on the manager's loopback: 2375 for a plain engine, 2376 (by convention) with mutual TLS.",
  'cluster.engine.tlsParameter':
    'A SecureString parameter under the prefix holding JSON `{"ca", "cert", "key"}` (PEM) for an engine with mutual TLS; the engine\'s certificate must be valid for `localhost`. Set by the stack when its `engineTls` has material for this cluster.',
  'cluster.engine.document':
    "The Session Manager document of the port forward; the default forwards a port on the manager's own loopback. The functions may start sessions with the documents the clusters name only.",
  'cluster.prometheus':
    "Where the analysis queries this cluster's Prometheus: by URL, or through the same SSM session to a port on the manager.",
  'cluster.prometheus.url':
    'Base URL of the Prometheus HTTP API (the client appends `/api/v1/query`). No credentials, query string or fragment: reference a secret in `auth` instead.',
  'cluster.prometheus.tunnelPort':
    'Port of a Prometheus listening on the manager itself, reached through a port-forwarding session with the default document.',
  'cluster.prometheus.auth': 'How the analysis authenticates to Prometheus; none when absent.',
  'cluster.labels':
    'Free-form labels (environment, site, …) for people and tools; the deployer does not act on them.',
  'cluster.minEngineVersion': 'Preflight fails on an engine older than this version.',
  'cluster.unreachableSeconds':
    'How long a deployment keeps retrying a manager it cannot reach (no session, no agent, no engine) before it gives the cluster up as unreachable, its state unverified. The workflow retries reachability at most 60 times, 30 s apart at most: keep it under 30 minutes.',

  // Prometheus authentication
  'prometheusAuth.basic': 'HTTP basic authentication.',
  'prometheusAuth.basic.secret': 'The secret holding JSON `{"username": "…", "password": "…"}`.',
  'prometheusAuth.bearer': 'A bearer token in the Authorization header.',
  'prometheusAuth.bearer.secret': 'The secret holding the token (surrounding whitespace is trimmed).',
  'prometheusAuth.sigv4':
    "AWS SigV4 signing with the analysis function's own credentials, for Amazon Managed Service for Prometheus.",
  'prometheusAuth.sigv4.region':
    "The signing region; default: the region of an `aps-workspaces` URL, else the cluster's region.",
  'prometheusAuth.sigv4.service': 'The signing name.',

  // Secret reference
  'secretRef.parameter':
    'A SecureString parameter (a plain String is refused); grant reads by keeping it under the prefix.',
  'secretRef.secretsManager':
    "A Secrets Manager secret, by name or ARN (an ARN's region is used); the stack grants the analysis function exactly the secrets its clusters reference.",

  // Service policy
  'policy.name': "The policy's name; the stack stores the policy as `<prefix>/services/<name>`.",
  'policy.service': 'The Swarm service this policy deploys, by the same name on every cluster.',
  'policy.repository':
    "The ECR repository whose pushes this policy deploys (the stack's push rule watches every policy's repository).",
  'policy.tags':
    'Which pushed tags are deployed: a glob (`v*`), a regular expression, or a semver range; a push of any other tag is ignored.',
  'policy.tags.glob': 'A glob over the tag, e.g. `v*` or `release-*`.',
  'policy.tags.regex':
    'A JavaScript regular expression matched against the whole tag (anchored); it must compile.',
  'policy.tags.semver':
    'A semver range, e.g. `>=1.4.0 <2`: tags that are versions in the range (`v1.4.2` and `1.4.2` alike).',
  'policy.registries':
    'ECR registries whose pushes this policy accepts (the image is pulled from the registry the event names); default: any.',
  'policy.registries[].account': "The registry's AWS account id.",
  'policy.registries[].region': "The registry's region.",
  'policy.clusters': 'Every cluster the service runs on; each must have a cluster entry.',
  'policy.canary': 'Where and how big the canary is.',
  'policy.canary.cluster': 'The cluster the canary runs on: one of `clusters`.',
  'policy.canary.percent':
    "The canary's size, as a percentage of the primary's replicas on that cluster (rounded up, at least one task).",
  'policy.analysis': 'How the canary is judged.',
  'policy.analysis.metrics':
    'The metrics measured on the canary; every one must pass for the canary to pass. Names are unique.',
  'policy.waves':
    'Ordered groups of clusters promoted together after the canary passes; every cluster of the policy in exactly one wave. Default: one wave with every cluster.',
  'policy.waves[].name': "The wave's name, in alerts and the execution's output.",
  'policy.waves[].clusters': "The clusters of this wave, each one of the policy's clusters.",
  'policy.waves[].bakeSeconds':
    "Time the wave's clusters run the new digest, converged, before the next wave starts (an abort ends the wait at once).",
  'policy.waves[].maxFailures':
    'Clusters of this wave that may fail to converge without rolling the deployment back; each is restored from its snapshot and named in the outcome.',
  'policy.promotion': 'What happens once the canary has passed, or while it is being judged.',
  'policy.promotion.mode':
    '`auto` promotes when the analysis passes; `manual` also waits for a person to approve (the analysis keeps running beside the wait, and a failed measurement still rolls back).',
  'policy.promotion.approvalTimeoutSeconds': 'How long a manual promotion waits for a decision.',
  'policy.promotion.onTimeout': 'What an approval that nobody gave in time means: roll back, or promote.',
  'policy.concurrency':
    'A newer push while a deployment of this service runs: `queue` it behind the running one (a queued older digest steps aside for a newer push), `supersede` the running one (it rolls itself back first), or `reject` it.',
  'policy.update':
    'The `update_config` set on the primary service when it is promoted, and its `rollback_config` too unless `rollbackConfig` is set.',
  'policy.update.parallelism': 'Tasks updated at once (0: all at once).',
  'policy.update.delaySeconds': 'Seconds between updating groups of tasks.',
  'policy.update.monitorSeconds': 'Seconds Swarm watches each updated task for failure.',
  'policy.update.failureAction': 'What Swarm does when an updated task fails.',
  'policy.update.maxFailureRatio': 'Share of failed tasks Swarm tolerates during the update.',
  'policy.update.order': 'Stop the old task before starting the new one, or start the new one first.',
  'policy.rollbackConfig':
    "Swarm's own `rollback_config` (the Engine API's `RollbackConfig`), set on the primary service when it is promoted: how Swarm rolls the service back by itself, after a failed update with `update.failureAction: rollback` or on `docker service rollback`. Default: the same as `update`.",
  'policy.rollbackConfig.parallelism': 'Tasks rolled back at once (0: all at once).',
  'policy.rollbackConfig.delaySeconds': 'Seconds between rolling back groups of tasks.',
  'policy.rollbackConfig.monitorSeconds': 'Seconds Swarm watches each rolled-back task for failure.',
  'policy.rollbackConfig.failureAction':
    'What Swarm does when a rolled-back task fails; `rollback` pauses the rollback (Swarm never rolls a rollback back).',
  'policy.rollbackConfig.maxFailureRatio': 'Share of failed tasks Swarm tolerates during the rollback.',
  'policy.rollbackConfig.order':
    "Stop the current task before starting the previous version's, or start that one first.",
  'policy.minEngineVersion':
    "The oldest Docker Engine the service runs on, when it needs a newer one than a cluster's own `minEngineVersion` (a feature of its spec, say): PreflightCluster refuses, before any change, a cluster whose engine is older than the later of the two.",
  'policy.spec':
    "What the service needs besides its image. Every field set here replaces that part of the service's spec on every cluster, for the canary first and then at promotion; a field left out is left as the cluster has it. The image, replicas, published ports and anything else not listed here are never changed by it.",
  'policy.spec.env':
    "The container's whole environment (`ContainerSpec.Env`): a variable the service has and this map lacks is removed. Names are letters, digits and `_`, not starting with a digit. Values are plain text in the policy and in `docker service inspect`: put secret values in `secrets`.",
  'policy.spec.labels':
    "Container labels (`ContainerSpec.Labels`, not the service's labels), replacing the ones the containers have; the deployer's own `deployer.*` labels are kept and may not be set here.",
  'policy.spec.resources':
    "The tasks' resource limits and reservations (`TaskTemplate.Resources`), replaced as a whole: `limits` or `reservations` left out, or a field of them, is removed.",
  'policy.spec.resources.limits':
    'The most a task may use: its CPU time is throttled above `cpus`, and it is killed (out of memory) above `memory`.',
  'policy.spec.resources.limits.cpus':
    "CPUs, fractions allowed (0.5 is half a CPU); sets the Engine API's `NanoCPUs` (CPUs × 10⁹).",
  'policy.spec.resources.limits.memory':
    'Memory, in bytes or with a binary unit: `"128m"`, `"512MiB"`, `"1g"`, `"1.5g"` (k, m, g are 1024, 1024², 1024³); at least 6 MiB, Docker\'s minimum. Sets `MemoryBytes`.',
  'policy.spec.resources.reservations':
    "What a node must have free for Swarm to place a task there; a task that no node has room for stays pending, and the cluster's change fails at `progressDeadlineSeconds`.",
  'policy.spec.resources.reservations.cpus':
    "CPUs, fractions allowed (0.5 is half a CPU); sets the Engine API's `NanoCPUs` (CPUs × 10⁹).",
  'policy.spec.resources.reservations.memory':
    'Memory, in bytes or with a binary unit: `"128m"`, `"512MiB"`, `"1g"`, `"1.5g"` (k, m, g are 1024, 1024², 1024³); at least 6 MiB. Sets `MemoryBytes`.',
  'policy.spec.placement': 'Where the tasks may run (`TaskTemplate.Placement`).',
  'policy.spec.placement.constraints':
    "Placement constraints such as `node.role==worker` or `node.labels.zone!=b`, replacing the service's (`Placement.Constraints`); its other placement settings (preferences, replicas per node) are kept. A constraint no node meets leaves the tasks pending, and the cluster's change fails at `progressDeadlineSeconds`.",
  'policy.spec.healthcheck':
    'The container\'s health check (`ContainerSpec.Healthcheck`), in place of the image\'s `HEALTHCHECK`: a test with its timings, or `{"disable": true}`.',
  'policy.spec.healthcheck.test':
    'The check, as in a Dockerfile\'s `HEALTHCHECK`: `["CMD", "curl", "-f", "http://localhost/health"]` runs the command directly, `["CMD-SHELL", "curl -f http://localhost/health || exit 1"]` with the container\'s shell; exit code 0 means healthy.',
  'policy.spec.healthcheck.intervalSeconds':
    'Seconds between two checks (fractions allowed; sent to the engine in nanoseconds, as `Interval`).',
  'policy.spec.healthcheck.timeoutSeconds':
    'Seconds a check may run before it counts as failed (sent in nanoseconds, as `Timeout`).',
  'policy.spec.healthcheck.retries':
    'Consecutive failed checks that make the container unhealthy (`Retries`).',
  'policy.spec.healthcheck.startPeriodSeconds':
    'Seconds after the container starts during which a failed check does not count, for slow starters (sent in nanoseconds, as `StartPeriod`).',
  'policy.spec.healthcheck.disable': 'Turns the image\'s health check off (`Test: ["NONE"]`).',
  'policy.spec.networks':
    'The networks the tasks join (`TaskTemplate.Networks`), replacing the ones the service has (and its deprecated service-level `Networks`): a network left out is left. The ingress network of published ports is not listed here. The deployer never removes a network.',
  'policy.spec.networks[].name':
    'The network, by name, on every cluster. An overlay network the cluster lacks is created (swarm scope); an existing one is used as it is, except that one with another driver, or unencrypted when `encrypted` is asked for, is refused (the change of that cluster fails, nothing replaced).',
  'policy.spec.networks[].driver':
    "The network's driver; `overlay` spans the swarm's nodes. An existing network with another driver is refused.",
  'policy.spec.networks[].encrypted':
    "IPsec encryption of the overlay's traffic between nodes (the driver option `encrypted`), set when the deployer creates the network; an existing unencrypted network is refused when this is `true`, since encryption cannot be added to a network.",
  'policy.spec.networks[].attachable':
    'Whether standalone containers (`docker run --network`) may join the network too; set only when the deployer creates it.',
  'policy.spec.networks[].aliases':
    "Further DNS names of the service's tasks on this network, besides the service's name.",
  'policy.spec.secrets':
    "Docker secrets the tasks get as files under `/run/secrets/` (`ContainerSpec.Secrets`), replacing the ones the service has. Docker secrets are immutable, so each content becomes a secret of its own, named `<name>-<first 12 hex digits of the content's SHA-256>`: a new content is a new version, which the canary uses first; the old versions are kept until the deployment succeeds and pruned then, and a rollback switches back to them and removes the new version.",
  'policy.spec.secrets[].name':
    "The secret's name (at most 50 characters, unique in the list); the Docker secret is `<name>-<content hash>`.",
  'policy.spec.secrets[].source':
    "Where the content lives; the policy never holds it. The plan pins the source to its current version (the parameter's version, the Secrets Manager secret's `AWSCURRENT` VersionId) and refuses the deployment when it cannot; only the steps that write the secret (canary, promotion) read that version, so every cluster gets the same content. A newer version is deployed by the next deployment (`deployer apply <service>`).",
  'policy.spec.secrets[].source.parameter':
    'A SecureString (or String) parameter, by path: its value is the content. The stack grants the functions exactly the parameters the policies name.',
  'policy.spec.secrets[].source.secretsManager':
    "A Secrets Manager secret, by name or ARN (an ARN's region is used): its `SecretString` (UTF-8) or `SecretBinary` is the content.",
  'policy.spec.secrets[].target':
    'The file name under `/run/secrets/` (no slashes; unique in the list); default: the `name`.',
  'policy.spec.secrets[].uid': "The file's owner, a numeric user id.",
  'policy.spec.secrets[].gid': "The file's group, a numeric group id.",
  'policy.spec.secrets[].mode':
    "The file's permissions as a decimal number (JSON has no octal): the default 292 is `0444` (read-only for all), 256 is `0400`.",
  'policy.spec.configs':
    "Docker configs the tasks get as files (`ContainerSpec.Configs`), replacing the ones the service has. Versioned like `secrets`: each content is a Docker config `<name>-<first 12 hex digits of the content's SHA-256>`, used by the canary first, the old versions pruned after a successful deployment and kept until then; a rollback switches back and removes the new version.",
  'policy.spec.configs[].name':
    "The config's name (at most 50 characters, unique in the list); the Docker config is `<name>-<content hash>`.",
  'policy.spec.configs[].source':
    "Where the content lives: a parameter or a Secrets Manager secret, pinned to its version at plan time and read only by the steps that write the config, as a secret's `source`; or inline.",
  'policy.spec.configs[].source.parameter':
    'A String or SecureString parameter, by path: its value is the content.',
  'policy.spec.configs[].source.secretsManager':
    "A Secrets Manager secret, by name or ARN (an ARN's region is used): its `SecretString` (UTF-8) or `SecretBinary` is the content.",
  'policy.spec.configs[].source.inline':
    'The content itself, as text in the policy: stored in plain text, so never for a secret value.',
  'policy.spec.configs[].target': 'The absolute path of the file in the container; default: `/<name>`.',
  'policy.spec.configs[].uid': "The file's owner, a numeric user id.",
  'policy.spec.configs[].gid': "The file's group, a numeric group id.",
  'policy.spec.configs[].mode':
    "The file's permissions as a decimal number (JSON has no octal): the default 292 is `0444` (read-only for all), 420 is `0644`.",
  'policy.maxConcurrency': "Most clusters of a wave changed at once (the Map state's MaxConcurrency).",
  'policy.progressDeadlineSeconds':
    'A cluster that has not converged this long after a change has failed (ProgressDeadlineError).',
  'policy.pollSeconds':
    'Seconds between two progress checks of a change (a Wait state, not a waiting Lambda).',

  // Metric
  'metric.name': "The metric's name, in the decision record and alerts; unique within the policy.",
  'metric.query': `A PromQL template for the canary's value, with \`{{variable}}\` placeholders (${TEMPLATE_VARIABLES.map((v) => `\`${v}\``).join(', ')}); checked for unknown variables and unbalanced brackets or quotes at load.`,
  'metric.successCondition':
    'A condition over `result`; true means Successful. Alone, false means Failed; with a failure condition, neither true means Inconclusive.',
  'metric.failureCondition': 'A condition over `result`; true means Failed. Alone, false means Successful.',
  'metric.interval': 'Time between measurements.',
  'metric.initialDelay': 'Time before the first measurement.',
  'metric.window': "The query's `{{window}}`; default: the interval, at least 60 s.",
  'metric.count': 'Measurements to take (Error measurements do not count).',
  'metric.failureLimit': 'Failed measurements tolerated; one more fails the metric. Must be below `count`.',
  'metric.inconclusiveLimit':
    'Inconclusive measurements tolerated; one more makes the metric Inconclusive. Must be below `count`.',
  'metric.consecutiveErrorLimit':
    'Consecutive Error measurements (Prometheus could not be queried) tolerated; one more makes the metric Error.',
  'metric.onNoData': 'What an empty result (or NaN) means. Required: no default may let an idle canary pass.',
  'metric.minTraffic': 'A traffic guard: below the threshold a measurement is never Successful.',
  'metric.minTraffic.query': "A PromQL template for the canary's traffic (e.g. requests per second).",
  'metric.minTraffic.threshold':
    'The least traffic for a measurement to count; below it (or no data) see `onBelow`.',
  'metric.minTraffic.onBelow': 'What a measurement below the threshold is.',
  'metric.reduce':
    'How several series become one value; without it, several series are an Error measurement.',
  'metric.baseline': 'A comparison with the primary service on the same cluster, over the same window.',
  'metric.baseline.query': "A PromQL template for the primary, evaluated at the same time as the canary's.",
  'metric.baseline.compare': '`ratio`: result = canary / baseline; `difference`: result = canary - baseline.',
  'metric.baseline.condition':
    'A success condition over `result`, `canary` and `baseline`; false means Failed.',

  // Templates
  'template.success-rate.name': "The metric's name.",
  'template.success-rate.minSuccessRate': 'Lowest acceptable share of non-error responses.',
  'template.success-rate.minRps':
    'Traffic guard: below this many requests per second a measurement is Inconclusive.',
  'template.success-rate.requestsMetric': 'The request counter, with a status code label.',
  'template.success-rate.codeLabel': "The counter's status code label.",
  'template.success-rate.errorCodes':
    'A PromQL (RE2) regular expression of the status codes that count as errors.',
  'template.success-rate.baselineMaxDrop':
    "When set, the canary's success rate may be at most this much below the primary's (e.g. 0.01).",
  'template.latency-p99.name': "The metric's name.",
  'template.latency-p99.quantile': 'The latency quantile measured.',
  'template.latency-p99.maxSeconds': 'Highest acceptable latency at the quantile, in seconds.',
  'template.latency-p99.minRps':
    'Traffic guard: below this many requests per second a measurement is Inconclusive.',
  'template.latency-p99.histogram':
    "The histogram's base name: `<histogram>_bucket` and `<histogram>_count` are read.",
  'template.latency-p99.baselineMaxRatio':
    "When set, the canary's quantile may be at most this multiple of the primary's (e.g. 1.5)…",
  'template.latency-p99.baselineFloorSeconds':
    "…unless the canary's own quantile is at or below this many seconds (tiny latencies never regress).",
  'template.restarts.name': "The metric's name.",
  'template.restarts.maxRestarts': 'Lost tasks of the canary tolerated over the window.',
  'template.restarts.targetMetric':
    'A 0/1 series every scraped task has (`up` exists for every target, whatever the application exports).',
  'template.restarts.taskLabel': 'The label that names a task (a replaced task has a new value).',

  // Stack configuration
  'stack.region': 'The region of everything the stack creates.',
  'stack.namePrefix':
    'Prefix of physical resource names: `<namePrefix>-deploy` (state machine), `<namePrefix>-record` (table), `<namePrefix>-alerts` (topic), `<namePrefix>-<handler>` (functions). The default `deployer-<stack>` is lowercased, other characters become dashes, and it is cut to 24 characters.',
  'stack.prefix':
    "The Parameter Store prefix of the configuration (the functions' `DEPLOYER_PREFIX`): `<prefix>/clusters/<name>`, `<prefix>/services/<name>`, `<prefix>/tls/<cluster>`. The functions may read parameters under it only.",
  'stack.clusters': 'The clusters, each stored as the String parameter `<prefix>/clusters/<name>`.',
  'stack.services':
    'The service policies, each stored as `<prefix>/services/<name>`; every cluster they name must be in `clusters` or `demoFleet`. Their repositories are the ones the push rule watches.',
  'stack.alertSubscriptions':
    "Subscriptions to the alert topic (an email subscription stays pending until its recipient confirms it; an SQS queue's policy must let the topic send to it).",
  'stack.alertSubscriptions[].protocol': "The subscription's protocol.",
  'stack.alertSubscriptions[].endpoint':
    'Where SNS delivers: an email address, an https URL, or an SQS queue ARN.',
  'stack.api': 'The HTTP API.',
  'stack.api.allowedPrincipals':
    'IAM roles, users or account roots that may assume the approver role the stack creates to call the HTTP API (stack output `approverRoleArn`); none: no role is created.',
  'stack.engineTls':
    "Client TLS material for engines with mutual TLS, by cluster name: stored as the SecureString `<prefix>/tls/<cluster>`, which the cluster's `engine.tlsParameter` then names. A secret: set it with `pulumi config set --secret`.",
  'stack.engineTls.<cluster>.ca': "The CA certificate that signed the engine's server certificate (PEM).",
  'stack.engineTls.<cluster>.cert': "The deployer's client certificate (PEM).",
  'stack.engineTls.<cluster>.key': "The client certificate's private key (PEM).",
  'stack.logRetentionDays': 'Retention of every log group the stack creates.',
  'stack.registryAuthRefreshHours':
    "How often (an EventBridge schedule, `rate(<n> hours)`) the `refresh-registry-auth` function re-sends every deployed service's unchanged spec with fresh ECR credentials. Swarm keeps the registry credentials of a service's last update and pulls with them whenever it starts a task later (a node lost, a task restarted); an ECR authorization token expires after 12 hours, so the interval must stay under that (at most 11 hours, leaving a run that fails or starts late room before the last token expires).",
  'stack.tags': "Tags on every resource the stack creates (the provider's default tags).",
  'stack.instanceTag':
    'The tag every Swarm manager must carry: the functions may start Session Manager sessions on instances with this tag only.',
  'stack.instanceTag.key': "The tag's key.",
  'stack.instanceTag.value': "The tag's value.",
  'stack.demoFleet':
    'A small demo fleet: a VPC without NAT and one arm64 Amazon Linux 2023 manager per name, each registered as a cluster; none when absent.',
  'stack.demoFleet.clusters': 'Names of the demo clusters (not also in `clusters`).',
  'stack.demoFleet.instanceType': 'A Graviton (arm64) instance type.',
};

// -- sections -------------------------------------------------------------------------------------------

interface Example {
  title: string;
  /** The value, validated (verifyExamples) before it is written. */
  value: unknown;
  format: 'json' | 'yaml';
  /** A paragraph after the example. */
  note?: string;
}

interface Section {
  id: string;
  title: string;
  /** Paragraphs (Markdown) before the table. */
  intro: string[];
  /** The schema whose fields the table lists; absent for the stack and the templates. */
  schema?: Schema;
  /** Paragraphs after the table (cross-field rules). */
  rules?: string[];
  examples?: Example[];
}

const anchor = (title: string) =>
  `#${title
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/ /g, '-')}`;

const CLUSTER_EXAMPLES: Example[] = [
  {
    title: 'an EC2 manager, Prometheus on the manager',
    format: 'json',
    value: {
      name: 'eu1',
      region: 'eu-west-1',
      target: 'i-0123456789abcdef0',
      prometheus: { tunnelPort: 9090 },
      labels: { env: 'prod' },
    },
  },
  {
    title: 'an on-premises manager with mutual TLS and a Prometheus behind basic authentication',
    format: 'json',
    value: {
      name: 'dc1',
      region: 'eu-west-1',
      target: 'mi-0123456789abcdef0',
      engine: { port: 2376, tlsParameter: '/deployer/tls/dc1' },
      prometheus: {
        url: 'https://prometheus.dc1.example.com',
        auth: { basic: { secret: { secretsManager: 'deployer/prometheus-dc1' } } },
      },
      labels: { env: 'prod', site: 'dc1' },
      unreachableSeconds: 600,
    },
  },
];

const POLICY_EXAMPLE: Example = {
  title: 'a canary on eu1, two ready-made metrics and one of its own, two waves, manual promotion',
  format: 'json',
  value: {
    name: 'web',
    service: 'web',
    repository: 'web',
    tags: { glob: 'v*' },
    clusters: ['eu1', 'eu2', 'dc1'],
    canary: { cluster: 'eu1', percent: 25 },
    analysis: {
      metrics: [
        { template: 'success-rate', params: { minSuccessRate: 0.99, baselineMaxDrop: 0.01 }, count: 10 },
        { template: 'restarts' },
        {
          name: 'queue-depth',
          query: 'max(app_queue_depth{service="{{canaryService}}",cluster="{{cluster}}"})',
          failureCondition: 'result > 100',
          interval: '1m',
          count: 5,
          onNoData: 'inconclusive',
          inconclusiveLimit: 2,
        },
      ],
    },
    waves: [
      { name: 'first', clusters: ['eu1'], bakeSeconds: 600 },
      { name: 'rest', clusters: ['eu2', 'dc1'], maxFailures: 1 },
    ],
    promotion: { mode: 'manual', approvalTimeoutSeconds: 7200, onTimeout: 'rollback' },
    concurrency: 'supersede',
    update: { parallelism: 2, monitorSeconds: 10, order: 'start-first' },
  },
};

const SPEC_EXAMPLE: Example = {
  title:
    "a service's spec: environment, resources, a health check, an encrypted network, two secrets and a config, and Swarm's own rollback settings",
  format: 'json',
  note: "Each cluster gets the Docker secrets `db-password-<hash>` (mounted at `/run/secrets/db-password`) and `api-key-<hash>` (at `/run/secrets/api-key`, mode `0400`), and the config `api.yaml-<hash>` at `/etc/api/api.yaml`, each `<hash>` the first 12 hex digits of the content's SHA-256; the overlay network `backend` is created encrypted where the cluster lacks it.",
  value: {
    name: 'api',
    service: 'api',
    repository: 'api',
    tags: { semver: '>=1.0.0' },
    clusters: ['eu1', 'eu2'],
    canary: { cluster: 'eu1', percent: 10 },
    analysis: { metrics: [{ template: 'success-rate' }, { template: 'restarts' }] },
    rollbackConfig: { parallelism: 0, failureAction: 'continue' },
    spec: {
      env: { LOG_LEVEL: 'info', DB_HOST: 'db.internal' },
      resources: { limits: { cpus: 1, memory: '512m' }, reservations: { cpus: 0.25, memory: '256MiB' } },
      placement: { constraints: ['node.role==worker'] },
      healthcheck: {
        test: ['CMD', 'wget', '-q', '--spider', 'http://localhost:8080/health'],
        intervalSeconds: 10,
        timeoutSeconds: 3,
        startPeriodSeconds: 20,
      },
      networks: [{ name: 'backend', encrypted: true }],
      secrets: [
        { name: 'db-password', source: { parameter: '/app/api/db-password' } },
        { name: 'api-key', source: { secretsManager: 'prod/api/key' }, mode: 256 },
      ],
      configs: [
        { name: 'api.yaml', source: { inline: 'listen: 8080\nlog: json\n' }, target: '/etc/api/api.yaml' },
      ],
    },
  },
};

const STACK_EXAMPLE: Example = {
  title: 'the stack file `infra/Pulumi.prod.yaml`',
  format: 'yaml',
  note: `The engine TLS material of \`dc1\` is a secret, so it is not written in the file by hand: \`pulumi config set --secret --path 'engineTls.dc1.ca' -- "$(cat ca.pem)"\`, and the same for \`cert\` and \`key\`, store it encrypted as \`${PROJECT}:engineTls\`; the stack then creates \`/deployer/tls/dc1\` and sets \`dc1\`'s \`engine.tlsParameter\` to it.`,
  value: {
    config: {
      'aws:region': 'eu-west-1',
      [`${PROJECT}:clusters`]: [
        {
          name: 'eu1',
          region: 'eu-west-1',
          target: 'i-0123456789abcdef0',
          prometheus: { tunnelPort: 9090 },
        },
        {
          name: 'eu2',
          region: 'eu-west-1',
          target: 'i-0fedcba9876543210',
          prometheus: { tunnelPort: 9090 },
        },
        {
          name: 'dc1',
          region: 'eu-west-1',
          target: 'mi-0123456789abcdef0',
          engine: { port: 2376 },
          prometheus: {
            url: 'https://prometheus.dc1.example.com',
            auth: { basic: { secret: { secretsManager: 'deployer/prometheus-dc1' } } },
          },
        },
      ],
      [`${PROJECT}:services`]: [POLICY_EXAMPLE.value],
      [`${PROJECT}:alertSubscriptions`]: [
        { protocol: 'email', endpoint: 'oncall@example.com' },
        { protocol: 'https', endpoint: 'https://hooks.example.com/deployer' },
      ],
      [`${PROJECT}:api`]: { allowedPrincipals: ['arn:aws:iam::123456789012:role/release-managers'] },
      [`${PROJECT}:instanceTag`]: { key: 'swarm-deployer', value: 'manager' },
      [`${PROJECT}:logRetentionDays`]: 90,
      [`${PROJECT}:tags`]: { team: 'platform', 'cost-center': '4711' },
    },
  },
};

/** What the stack does when a key is absent: verified against parseStackConfig before it is written. */
const STACK_KEYS: Record<keyof typeof stackSchemas, { required?: true; default?: unknown; key?: string }> = {
  region: { required: true, key: 'aws:region' },
  namePrefix: { default: 'deployer-<stack>' },
  prefix: { default: '/deployer' },
  clusters: { default: [] },
  services: { required: true },
  alertSubscriptions: { default: [] },
  api: { default: { allowedPrincipals: [] } },
  engineTls: { default: {} },
  logRetentionDays: { default: 30 },
  registryAuthRefreshHours: { default: 6 },
  tags: { default: {} },
  instanceTag: { default: { key: 'swarm-deployer', value: 'manager' } },
  demoFleet: {},
};

const SECTIONS: Section[] = [
  {
    id: 'cluster',
    title: 'Cluster',
    schema: clusterSchema,
    intro: [
      'One Swarm cluster, reached through one manager node. Stored as the String parameter `<prefix>/clusters/<name>` (JSON), which the stack writes from its `clusters` key; read and validated by every step that needs it.',
    ],
    rules: [
      'A cluster entry that does not validate blocks only the service policies that name it; the others deploy.',
    ],
    examples: CLUSTER_EXAMPLES,
  },
  {
    id: 'prometheusAuth',
    title: 'Prometheus authentication',
    schema: prometheusAuthSchema,
    intro: [
      "A cluster's `prometheus.auth`: exactly one of `basic`, `bearer` or `sigv4`. It references a secret and never holds one; only the analysis step reads the secret, when it queries.",
    ],
  },
  {
    id: 'secretRef',
    title: 'Secret reference',
    schema: secretRefSchema,
    intro: ['Where a secret lives: exactly one of `parameter` or `secretsManager`.'],
  },
  {
    id: 'policy',
    title: 'Service policy',
    schema: servicePolicySchema,
    intro: [
      'How one service is deployed: which pushes, where, how the canary is judged and how it is promoted. Stored as the String parameter `<prefix>/services/<name>` (JSON), which the stack writes from its `services` key; read and validated when a push is planned.',
    ],
    rules: [
      'Checked across fields: `clusters` lists no cluster twice; `canary.cluster` is one of `clusters`; with `waves`, every cluster of `clusters` is in exactly one wave and a wave names only clusters of `clusters`; `tags.regex` compiles; metric names are unique.',
      'Checked within `spec`: `env` names are letters, digits and `_`, not starting with a digit; `labels` has no `deployer.*` key; a memory size is at least 6 MiB; `healthcheck.test` starts with `CMD` or `CMD-SHELL`; no name is listed twice in `secrets`, `configs` or `networks`, and no secret `target` (its `name` when absent) twice.',
      'A policy that does not validate, or that names a cluster without a valid entry, blocks only its own service: a push of its repository ends with an alert naming the parameter and the field, never a value.',
    ],
    examples: [POLICY_EXAMPLE, SPEC_EXAMPLE],
  },
  {
    id: 'metric',
    title: 'Metric',
    schema: metricSchema,
    intro: [
      "One item of a policy's `analysis.metrics`: a full metric as below, or a [metric from a template](#metric-from-a-template). Conditions are small expressions over the named values (`result >= 0.99`, `result < 0.5 or canary <= 0.05`), parsed at load. The semantics of measurements and verdicts are described in [analysis.md](analysis.md).",
    ],
    rules: [
      'A metric needs a `successCondition`, a `failureCondition` or a `baseline`; `failureLimit` and `inconclusiveLimit` must be below `count`.',
    ],
  },
  {
    id: 'template',
    title: 'Metric from a template',
    intro: [
      'Instead of a full metric, an item of `analysis.metrics` may name a ready-made one: `{"template": "<name>", "params": {…}, …overrides}`. The template builds a metric from its parameters (all optional); any other key overrides the built metric\'s field of that name (an object such as `minTraffic` is merged one level deep, `null` removes the field). The result is then validated as a [metric](#metric). Templates: ' +
        Object.keys(TEMPLATES)
          .map((t) => `[\`${t}\`](${anchor(`Template ${t}`)})`)
          .join(', ') +
        '.',
    ],
  },
  {
    id: 'stack',
    title: 'Stack configuration',
    intro: [
      `The Pulumi program's configuration (\`infra/\`): the keys of the stack file, \`${PROJECT}:<key>\` (and \`aws:region\`), each validated before any resource exists. \`clusters\` and \`services\` hold exactly the JSON documents above; the stack writes each into Parameter Store. A key that does not validate fails \`pulumi preview\` with the key and the field named, never the value.`,
    ],
    examples: [STACK_EXAMPLE],
  },
];

/** Schemas documented in a section of their own: elsewhere they are a link. */
const NAMED = new Map<Schema, string>([
  [clusterSchema, 'cluster'],
  [prometheusAuthSchema, 'prometheusAuth'],
  [secretRefSchema, 'secretRef'],
  [servicePolicySchema, 'policy'],
  [metricSchema, 'metric'],
  [metricEntrySchema, 'metric'],
]);

/** What the stack's `array(unknown)` keys hold: validated with these schemas by parseStackConfig. */
const STACK_ITEMS = new Map<string, Schema>([
  ['clusters[]', clusterSchema],
  ['services[]', servicePolicySchema],
]);

/** Names of map keys in paths (`engineTls.<cluster>`), default `<key>`. */
const MAP_KEYS: Record<string, string> = { 'stack.engineTls': 'cluster' };

// -- walking the schemas --------------------------------------------------------------------------------

interface Row {
  path: string;
  type: string;
  required: boolean;
  default?: string;
  constraints: string[];
  /** The union forms (1-based) the field belongs to, when it is a field of a union's object forms. */
  forms?: { union: string; indices: number[]; of: number };
}

interface Walk {
  section: string;
  root: Schema | undefined;
  rows: Row[];
}

const code = (s: string) => `\`${s}\``;
const json = (v: unknown) => code(JSON.stringify(v));
const join2 = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

/** Removes optional and default wrappers: what is left, whether it is required, its default. */
function unwrap(schema: Schema): { inner: Schema; required: boolean; default?: { value: unknown } } {
  let inner = schema;
  let required = true;
  let dflt: { value: unknown } | undefined;
  for (;;) {
    const d = defOf(inner);
    if (d.type === 'optional') {
      required = false;
      inner = d.innerType as Schema;
    } else if (d.type === 'default') {
      required = false;
      dflt = { value: d.defaultValue };
      inner = d.innerType as Schema;
    } else {
      return { inner, required, ...(dflt ? { default: dflt } : {}) };
    }
  }
}

function link(section: string): string {
  const s = SECTIONS.find((x) => x.id === section) as Section;
  return `[${s.title}](${anchor(s.title)})`;
}

function customChecks(schema: Schema): string[] {
  return checksOf(schema)
    .filter((c) => c.check === 'custom')
    .map(messageOf)
    .filter((m): m is string => m !== undefined);
}

function stringType(schema: Schema, path: string): { type: string; constraints: string[] } {
  const d = defOf(schema);
  const constraints: string[] = [];
  let type = 'string';
  if (d.format === 'url') {
    type = 'URL';
    if (d.protocol instanceof RegExp) constraints.push(`protocol matches ${code(d.protocol.source)}`);
  } else if (d.format === 'email') {
    type = 'email address';
  } else if (d.format !== undefined) {
    throw new ConfigReferenceError(`${path}: no rendering for string format ${String(d.format)}`);
  }
  for (const c of checksOf(schema)) {
    const message = messageOf(c);
    const because = message ? ` (${message})` : '';
    if (c.check === 'min_length') constraints.push(`length ≥ ${c.minimum}`);
    else if (c.check === 'max_length') constraints.push(`length ≤ ${c.maximum}`);
    else if (c.check === 'string_format' && c.format === 'regex')
      constraints.push(`matches ${code((c.pattern as RegExp).source)}${because}`);
    else if (c.check === 'string_format' && c.format === 'starts_with')
      constraints.push(`starts with ${json(c.prefix)}${because}`);
    else if (c.check === 'string_format' && c.format === 'includes')
      constraints.push(`contains ${json(c.includes)}${because}`);
    else if (c.check !== 'custom')
      throw new ConfigReferenceError(`${path}: no rendering for string check ${c.check}`);
  }
  return { type, constraints: [...constraints, ...customChecks(schema)] };
}

function numberType(schema: Schema, path: string): { type: string; constraints: string[] } {
  let type = 'number';
  const constraints: string[] = [];
  for (const c of checksOf(schema)) {
    if (c.check === 'number_format' && (c.format === 'safeint' || c.format === 'int32')) type = 'integer';
    else if (c.check === 'greater_than') constraints.push(`${c.inclusive ? '≥' : '>'} ${c.value}`);
    else if (c.check === 'less_than') constraints.push(`${c.inclusive ? '≤' : '<'} ${c.value}`);
    else if (c.check !== 'custom')
      throw new ConfigReferenceError(`${path}: no rendering for number check ${c.check}`);
  }
  return { type, constraints: [...constraints, ...customChecks(schema)] };
}

/** The accepted range of a duration (a number or a string turned into seconds): found by parsing. */
function durationBounds(schema: Schema): { min: number; max: number } {
  const ok = (n: number) => (schema as unknown as z.ZodMiniType).safeParse(n).success;
  const LIMIT = 100_000_000;
  const seed = [0, 1, 60, 3600, 86_400].find(ok);
  if (seed === undefined)
    throw new ConfigReferenceError('a duration that accepts none of 0, 1, 60, 3600, 86400');
  let lo = 0;
  let hi = seed; // lowest accepted: in [lo, hi]
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (ok(mid)) hi = mid;
    else lo = mid + 1;
  }
  const min = lo;
  lo = seed;
  hi = LIMIT; // highest accepted: in [lo, hi]
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (ok(mid)) lo = mid;
    else hi = mid - 1;
  }
  return { min, max: lo };
}

const isObject = (s: Schema) => defOf(unwrap(s).inner).type === 'object';

/** A union of objects: the forms' signatures, e.g. `{url, auth?}`, `{protocol: "email", endpoint}`. */
function formSignature(option: Schema): string {
  const shape = defOf(option).shape as Record<string, Schema>;
  const keys = Object.entries(shape).map(([k, v]) => {
    const { inner, required } = unwrap(v);
    const d = defOf(inner);
    if (d.type === 'literal')
      return `${k}: ${(d.values as unknown[]).map((x) => JSON.stringify(x)).join(' | ')}`;
    return required ? k : `${k}?`;
  });
  return code(`{${keys.join(', ')}}`);
}

/** One field: its row, then the rows of what it contains. */
function field(w: Walk, path: string, schema: Schema, forms?: Row['forms']): void {
  const { inner, required, default: dflt } = unwrap(schema);
  const t = typeOf(w, path, inner);
  w.rows.push({
    path,
    type: t.type,
    required,
    ...(dflt ? { default: json(dflt.value) } : {}),
    constraints: t.constraints,
    ...(forms ? { forms } : {}),
  });
  t.children?.();
}

interface TypeInfo {
  type: string;
  constraints: string[];
  children?: () => void;
}

function typeOf(w: Walk, path: string, schema: Schema): TypeInfo {
  const named = NAMED.get(schema);
  if (named && schema !== w.root) return { type: link(named), constraints: [] };
  const d = defOf(schema);
  switch (d.type) {
    case 'string':
      return stringType(schema, path);
    case 'number':
      return numberType(schema, path);
    case 'boolean':
      return { type: 'boolean', constraints: [] };
    case 'enum':
      return {
        type: Object.values(d.entries as Record<string, string>)
          .map((v) => JSON.stringify(v))
          .join(' | '),
        constraints: [],
      };
    case 'literal':
      return { type: (d.values as unknown[]).map((v) => JSON.stringify(v)).join(' | '), constraints: [] };
    case 'unknown': {
      const item = STACK_ITEMS.get(path);
      if (item && w.section === 'stack') return typeOf(w, path, item);
      return { type: 'any JSON value', constraints: [] };
    }
    case 'object': {
      const catchall = d.catchall as Schema | undefined;
      const strict = catchall !== undefined && defOf(catchall).type === 'never';
      return {
        type: 'object',
        constraints: strict ? [] : ['other keys allowed'],
        children: () => {
          for (const [k, v] of Object.entries(d.shape as Record<string, Schema>)) field(w, join2(path, k), v);
        },
      };
    }
    case 'array': {
      const constraints: string[] = [];
      for (const c of checksOf(schema)) {
        if (c.check === 'min_length')
          constraints.push(`at least ${c.minimum} item${c.minimum === 1 ? '' : 's'}`);
        else if (c.check === 'max_length') constraints.push(`at most ${c.maximum} items`);
        else throw new ConfigReferenceError(`${path}: no rendering for array check ${c.check}`);
      }
      const itemPath = `${path}[]`;
      const element = d.element as Schema;
      const item = typeOf(w, itemPath, element);
      if (item.children) {
        // Objects (or unions of objects): their fields get rows of their own under `path[]`.
        return {
          type: `array of ${item.type === 'object' ? 'objects' : item.type}`,
          constraints: [...constraints, ...item.constraints.map((c) => `each: ${c}`)],
          children: item.children,
        };
      }
      return {
        type: `array of ${item.type}`,
        constraints: [...constraints, ...item.constraints.map((c) => `each: ${c}`)],
      };
    }
    case 'record': {
      const key = typeOf(w, path, d.keyType as Schema);
      const valuePath = `${path}.<${MAP_KEYS[`${w.section}.${path}`] ?? 'key'}>`;
      const value = typeOf(w, valuePath, d.valueType as Schema);
      return {
        type: `map of ${key.type} to ${value.type === 'object' ? 'objects' : value.type}`,
        constraints: [
          ...key.constraints.map((c) => `keys: ${c}`),
          ...(value.children ? [] : value.constraints.map((c) => `values: ${c}`)),
        ],
        ...(value.children ? { children: value.children } : {}),
      };
    }
    case 'union': {
      const options = d.options as Schema[];
      if (options.every(isObject)) {
        return {
          type: `one of: ${options.map((o, i) => `(${i + 1}) ${formSignature(unwrap(o).inner)}`).join(' ')}`,
          constraints: [],
          children: () =>
            options.forEach((o, i) => {
              const shape = defOf(unwrap(o).inner).shape as Record<string, Schema>;
              for (const [k, v] of Object.entries(shape))
                field(w, join2(path, k), v, { union: path, indices: [i + 1], of: options.length });
            }),
        };
      }
      const types = options.map((o) => typeOf(w, path, o));
      if (types.some((t) => t.children))
        throw new ConfigReferenceError(`${path}: a union of objects and other types`);
      return {
        type: types.map((t) => t.type).join(' or '),
        constraints: types.flatMap((t) => t.constraints),
      };
    }
    case 'pipe': {
      const input = d.in as Schema;
      const output = d.out as Schema;
      if (defOf(output).type === 'transform') {
        const inputType = typeOf(w, path, input).type;
        if (inputType !== 'number or string')
          throw new ConfigReferenceError(`${path}: a transform of ${inputType} (only durations are known)`);
        const { min, max } = durationBounds(schema);
        return { type: 'duration', constraints: [`≥ ${min} s`, `≤ ${max} s`] };
      }
      return typeOf(w, path, output);
    }
    default:
      throw new ConfigReferenceError(`${path}: no rendering for zod type ${d.type}`);
  }
}

/** Merges the rows of one field that every union form shares (same type, default, constraints). */
function mergeForms(rows: Row[]): Row[] {
  const out: Row[] = [];
  for (const row of rows) {
    const same = out.find(
      (o) =>
        o.forms &&
        row.forms &&
        o.forms.union === row.forms.union &&
        o.path === row.path &&
        o.type === row.type &&
        o.required === row.required &&
        o.default === row.default &&
        o.constraints.join('\n') === row.constraints.join('\n'),
    );
    if (same?.forms && row.forms) same.forms.indices.push(...row.forms.indices);
    else
      out.push({
        ...row,
        ...(row.forms ? { forms: { ...row.forms, indices: [...row.forms.indices] } } : {}),
      });
  }
  for (const row of out) if (row.forms && row.forms.indices.length === row.forms.of) delete row.forms;
  return out;
}

function rowsOf(section: string, schema: Schema): Row[] {
  const w: Walk = { section, root: schema, rows: [] };
  const t = typeOf(w, '', schema);
  if (!t.children) throw new ConfigReferenceError(`section ${section}: not an object or a union of objects`);
  if (t.type.startsWith('one of:'))
    w.rows.push({ path: '(the document)', type: t.type, required: true, constraints: [] });
  t.children();
  return mergeForms(w.rows);
}

function stackRows(): Row[] {
  const w: Walk = { section: 'stack', root: undefined, rows: [] };
  // aws:region first, then the program's own keys in the order infra/config.ts declares them.
  const keys = (Object.keys(stackSchemas) as Array<keyof typeof stackSchemas>).sort(
    (a, b) => Number(b === 'region') - Number(a === 'region'),
  );
  for (const key of keys) {
    const declared = STACK_KEYS[key];
    const t = typeOf(w, key, stackSchemas[key] as Schema);
    w.rows.push({
      path: key,
      type: t.type,
      required: declared.required === true,
      ...('default' in declared ? { default: json(declared.default) } : {}),
      constraints: t.constraints,
    });
    t.children?.();
  }
  return mergeForms(w.rows);
}

// -- checks against the code ----------------------------------------------------------------------------

/** The stack's required keys and defaults, as STACK_KEYS declares them, against what parseStackConfig does. */
function verifyStackKeys(): void {
  const context = { project: PROJECT, stack: 'dev' };
  const problems: string[] = [];
  let required: string[] = [];
  try {
    parseStackConfig({}, context);
  } catch (err) {
    required = [...(err as Error).message.matchAll(/stack config (\S+): required/g)].map(
      (m) => m[1] as string,
    );
  }
  const keyOf = (k: keyof typeof stackSchemas) => STACK_KEYS[k].key ?? `${PROJECT}:${k}`;
  const declared = (Object.keys(STACK_KEYS) as Array<keyof typeof stackSchemas>)
    .filter((k) => STACK_KEYS[k].required)
    .map(keyOf);
  if (required.sort().join() !== declared.sort().join())
    problems.push(`required keys are ${required.join(', ')}, STACK_KEYS says ${declared.join(', ')}`);
  // A configuration valid without the defaulted keys: a demo cluster stands in for `clusters`.
  const base: RawStackConfig = {
    region: 'eu-west-1',
    demoFleet: JSON.stringify({ clusters: ['demo1'] }),
    services: JSON.stringify([
      {
        name: 'web',
        service: 'web',
        repository: 'web',
        tags: { glob: 'v*' },
        clusters: ['demo1'],
        canary: { cluster: 'demo1', percent: 50 },
        analysis: { metrics: [{ template: 'restarts' }] },
      },
    ]),
  };
  const without = parseStackConfig(base, context);
  for (const [k, spec] of Object.entries(STACK_KEYS)) {
    if (!('default' in spec)) continue;
    // The key set to its declared default (JSON text, as Pulumi config holds it) changes nothing.
    const value = JSON.stringify(spec.default).replaceAll('<stack>', context.stack);
    const explicit = parseStackConfig({ ...base, [k]: value }, context);
    if (!isDeepStrictEqual(without, explicit))
      problems.push(
        `${keyOf(k as keyof typeof stackSchemas)}: the default is not ${JSON.stringify(spec.default)}`,
      );
  }
  if (problems.length > 0)
    throw new ConfigReferenceError(`STACK_KEYS does not match infra/config.ts:\n${problems.join('\n')}`);
}

function verifyExamples(): void {
  const problems: string[] = [];
  for (const e of CLUSTER_EXAMPLES) {
    const r = clusterSchema.safeParse(e.value);
    if (!r.success) problems.push(`cluster example "${e.title}": ${r.error.message}`);
  }
  for (const e of [POLICY_EXAMPLE, SPEC_EXAMPLE]) {
    const p = servicePolicySchema.safeParse(e.value);
    if (!p.success) problems.push(`policy example "${e.title}": ${p.error.message}`);
  }
  const config = (STACK_EXAMPLE.value as { config: Record<string, unknown> }).config;
  const raw: RawStackConfig = {};
  for (const [k, v] of Object.entries(config)) {
    if (k === 'aws:region') raw.region = v as string;
    else raw[k.slice(PROJECT.length + 1) as keyof RawStackConfig] = JSON.stringify(v);
  }
  try {
    parseStackConfig(raw, { project: PROJECT, stack: 'prod' });
  } catch (err) {
    problems.push(`stack example: ${(err as Error).message}`);
  }
  if (problems.length > 0)
    throw new ConfigReferenceError(`an example does not validate:\n${problems.join('\n')}`);
}

/** Every row has a description and every description a row; names each field that does not. */
function verifyDescriptions(rows: Array<{ section: string; rows: Row[] }>, descriptions: Descriptions): void {
  const used = new Set<string>();
  const missing: string[] = [];
  for (const { section, rows: list } of rows)
    for (const row of list) {
      if (row.path === '(the document)') continue;
      const key = `${section}.${row.path}`;
      used.add(key);
      if (!descriptions[key]?.trim()) missing.push(key);
    }
  const stale = Object.keys(descriptions).filter((k) => !used.has(k));
  const problems = [
    ...[...new Set(missing)].map((k) => `no description for field ${k}`),
    ...stale.map((k) => `a description for ${k}, which no schema has`),
  ];
  if (problems.length > 0)
    throw new ConfigReferenceError(
      `${problems.join('\n')}\n(descriptions live in DESCRIPTIONS of docs/tools/config-reference.ts)`,
    );
}

// -- rendering ------------------------------------------------------------------------------------------

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function markdownTable(section: string, rows: Row[], descriptions: Descriptions): string[] {
  const lines = [
    `| ${section === 'stack' ? 'Key' : 'Field'} | Type | Required | Default | Constraints | Description |`,
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const description =
      r.path === '(the document)'
        ? 'One of the forms below.'
        : (descriptions[`${section}.${r.path}`] as string);
    const forms = r.forms ? ` (form ${r.forms.indices.join(', ')})` : '';
    const path =
      section === 'stack'
        ? code(STACK_KEYS[r.path as keyof typeof stackSchemas]?.key ?? r.path)
        : code(r.path);
    lines.push(
      `| ${[
        r.path === '(the document)' ? r.path : path,
        r.type,
        `${r.required ? 'yes' : 'no'}${forms}`,
        r.default ?? '',
        r.constraints.join('; '),
        description,
      ]
        .map(cell)
        .join(' | ')} |`,
    );
  }
  return lines;
}

/** A minimal YAML writer for the examples (block style; strings quoted unless plainly safe). */
function yaml(value: unknown, indent = ''): string[] {
  const scalar = (v: unknown) =>
    typeof v === 'string' &&
    /^[A-Za-z][A-Za-z0-9_./@-]*$/.test(v) &&
    !/^(true|false|null|yes|no|on|off|y|n)$/i.test(v)
      ? v
      : JSON.stringify(v);
  const isComplex = (v: unknown) =>
    (Array.isArray(v) && v.length > 0) || (v !== null && typeof v === 'object' && Object.keys(v).length > 0);
  if (Array.isArray(value))
    return value.flatMap((item) => {
      if (!isComplex(item)) return [`${indent}- ${scalar(item)}`];
      const [first, ...rest] = yaml(item, `${indent}  `);
      return [`${indent}- ${(first as string).trimStart()}`, ...rest];
    });
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    const key = /^[A-Za-z][A-Za-z0-9_:.-]*$/.test(k) ? k : JSON.stringify(k);
    if (!isComplex(v))
      return [
        `${indent}${key}: ${Array.isArray(v) ? '[]' : v !== null && typeof v === 'object' ? '{}' : scalar(v)}`,
      ];
    return [`${indent}${key}:`, ...yaml(v, `${indent}  `)];
  });
}

function examples(list: Example[] | undefined): string[] {
  if (!list?.length) return [];
  return list.flatMap((e) => [
    '',
    `Example: ${e.title}.`,
    '',
    `\`\`\`${e.format}`,
    ...(e.format === 'json' ? JSON.stringify(e.value, null, 2).split('\n') : yaml(e.value)),
    '```',
    ...(e.note ? ['', e.note] : []),
  ]);
}

/** The whole reference, as Markdown. @throws ConfigReferenceError naming each field or example at fault */
export function renderConfigurationReference(descriptions: Descriptions = DESCRIPTIONS): string {
  verifyStackKeys();
  verifyExamples();
  const tables: Array<{ section: string; rows: Row[] }> = [];
  for (const s of SECTIONS) {
    if (s.schema) tables.push({ section: s.id, rows: rowsOf(s.id, s.schema) });
    if (s.id === 'template')
      for (const [name, t] of Object.entries(TEMPLATES))
        tables.push({ section: `template.${name}`, rows: rowsOf(`template.${name}`, t.params as Schema) });
    if (s.id === 'stack') tables.push({ section: 'stack', rows: stackRows() });
  }
  verifyDescriptions(tables, descriptions);
  const rowsFor = (section: string) => (tables.find((t) => t.section === section) as { rows: Row[] }).rows;
  const table = (section: string) => markdownTable(section, rowsFor(section), descriptions);
  const policy = POLICY_EXAMPLE.value as { name: string; canary: object };
  const sampleError = (() => {
    try {
      parseParameter(
        servicePolicySchema,
        configPaths('/deployer').service(policy.name),
        JSON.stringify({ ...policy, canary: { ...policy.canary, percent: 150 } }),
      );
    } catch (err) {
      return (err as Error).message;
    }
    throw new ConfigReferenceError('a canary of 150 percent was accepted');
  })();

  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated by docs/tools/config-reference.ts from the schemas the deployer validates with. Do not edit: change a schema or a description there and run `npm run docs:config`. -->',
    '',
    "Everything the deployer reads as configuration, field by field, generated from the very schemas that validate it: the [cluster](#cluster) and [service policy](#service-policy) documents the workflow's functions read from Parameter Store (`functions/lib/config/schema.ts`, with the [metrics](#metric) of `functions/lib/analysis/model.ts`), and the [stack configuration](#stack-configuration) of the Pulumi program (`infra/config.ts`), which writes those documents into Parameter Store. `deployer config validate <file>` checks a file with the same schemas.",
    '',
    'How to read the tables:',
    '',
    '- **Required** is relative to the enclosing object: `waves[].name` is required in every wave, though `waves` itself is optional. "(form 2)" marks a field of one form of a "one of" field only.',
    '- A field with a **default** may be left out; the default is what the deployer then uses.',
    '- Every object accepts only the keys listed: an unknown key is an error (`Unrecognized key`), so a typo never passes silently.',
    '- A **duration** is a whole number of seconds, or a string such as `"30s"`, `"5m"`, `"1h30m"`.',
    `- Validation errors name the parameter (or stack key) and the field, and never echo a value: \`${sampleError}\`.`,
    '',
    '## Contents',
    '',
    ...SECTIONS.map((s) => `- [${s.title}](${anchor(s.title)})`),
  ];
  for (const s of SECTIONS) {
    out.push('', `## ${s.title}`, '', ...s.intro.flatMap((p, i) => (i === 0 ? [p] : ['', p])));
    if (s.schema) out.push('', ...table(s.id));
    if (s.id === 'template')
      for (const [name, t] of Object.entries(TEMPLATES)) {
        const built = (t.build as (params: Record<string, never>) => unknown)({});
        out.push(
          '',
          `### Template ${name}`,
          '',
          `Parameters (\`params\`):`,
          '',
          ...table(`template.${name}`),
          '',
          'With its default parameters the template is this metric:',
          '',
          '```json',
          ...JSON.stringify(built, null, 2).split('\n'),
          '```',
        );
      }
    if (s.id === 'stack') out.push('', ...table('stack'));
    if (s.rules) out.push('', ...s.rules.flatMap((p, i) => (i === 0 ? [p] : ['', p])));
    out.push(...examples(s.examples));
  }
  return `${out.join('\n')}\n`;
}

function main(argv: string[]): number {
  let text: string;
  try {
    text = renderConfigurationReference();
  } catch (err) {
    if (!(err instanceof ConfigReferenceError)) throw err;
    process.stderr.write(`config-reference: ${err.message}\n`);
    return 1;
  }
  if (argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(OUTPUT, 'utf8');
    } catch {
      // missing: stale
    }
    if (current === text) return 0;
    process.stderr.write(`config-reference: ${OUTPUT} is not up to date: run npm run docs:config\n`);
    return 1;
  }
  writeFileSync(OUTPUT, text);
  process.stdout.write(`config-reference: wrote ${OUTPUT}\n`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1])
  process.exitCode = main(process.argv.slice(2));
