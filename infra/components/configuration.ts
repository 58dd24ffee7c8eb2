import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { ClusterConfig, ServicePolicy } from '../../functions/lib/config/schema.js';
import { configPaths } from '../../functions/lib/config/store.js';
import { requireArgs } from './util.js';

/** A cluster entry whose instance id the program creates (the demo fleet). */
export interface PendingCluster {
  entry: Omit<ClusterConfig, 'target'>;
  target: pulumi.Input<string>;
}

export interface ConfigurationArgs {
  prefix: string;
  /** Validated entries (clusterSchema output). */
  clusters: ClusterConfig[];
  pendingClusters?: PendingCluster[];
  /** Validated policies (servicePolicySchema output). */
  services: ServicePolicy[];
  /** TLS client material: one SecureString each, at the cluster's engine.tlsParameter. */
  engineTls: Array<{ cluster: string; parameter: string; material: pulumi.Input<string> }>;
}

/**
 * The configuration the handlers read on every step: one String parameter per cluster
 * (<prefix>/clusters/<name>) and per service policy (<prefix>/services/<name>), each the validated
 * JSON; SecureStrings for engine TLS client material.
 */
export class Configuration extends pulumi.ComponentResource {
  readonly clusters: Record<string, aws.ssm.Parameter>;
  readonly services: Record<string, aws.ssm.Parameter>;
  readonly tls: Record<string, aws.ssm.Parameter>;

  constructor(name: string, args: ConfigurationArgs, opts?: pulumi.ComponentResourceOptions) {
    const names = [
      ...args.clusters.map((c) => c.name),
      ...(args.pendingClusters ?? []).map((c) => c.entry.name),
    ];
    const tlsParameters = new Set(args.clusters.map((c) => c.engine.tlsParameter).filter(Boolean));
    requireArgs('Configuration', [
      [new Set(names).size === names.length, 'clusters: names must be unique'],
      [
        new Set(args.services.map((s) => s.name)).size === args.services.length,
        'services: names must be unique',
      ],
      [
        args.services.every((s) => s.clusters.every((c) => names.includes(c))),
        'services: every cluster a policy names must be configured',
      ],
      [
        args.engineTls.every((t) => tlsParameters.has(t.parameter)),
        "engineTls: each parameter must be a cluster's engine.tlsParameter",
      ],
      [
        args.engineTls.every((t) => !t.parameter.startsWith(`${args.prefix}/clusters/`)),
        'engineTls: parameters must not be under <prefix>/clusters (the handlers read every parameter there as a cluster)',
      ],
    ]);
    super('swarm-deployer:index:Configuration', name, {}, opts);
    const paths = configPaths(args.prefix);
    const parameter = (kind: string, key: string, paramName: string, value: pulumi.Input<string>) =>
      new aws.ssm.Parameter(
        `${name}-${kind}-${key}`,
        {
          name: paramName,
          type: 'String',
          // Standard up to 4 KB, Advanced above (a policy with many metrics can be larger).
          tier: 'Intelligent-Tiering',
          // Not a secret: configuration holds references to secrets, never their values.
          insecureValue: value,
          description: `swarm-deployer ${kind}`,
        },
        { parent: this },
      );
    this.clusters = {};
    for (const c of args.clusters)
      this.clusters[c.name] = parameter('cluster', c.name, paths.cluster(c.name), JSON.stringify(c));
    for (const c of args.pendingClusters ?? [])
      this.clusters[c.entry.name] = parameter(
        'cluster',
        c.entry.name,
        paths.cluster(c.entry.name),
        pulumi.output(c.target).apply((target) => JSON.stringify({ ...c.entry, target })),
      );
    this.services = {};
    for (const s of args.services)
      this.services[s.name] = parameter('service', s.name, paths.service(s.name), JSON.stringify(s));
    this.tls = {};
    for (const t of args.engineTls)
      this.tls[t.cluster] = new aws.ssm.Parameter(
        `${name}-tls-${t.cluster}`,
        {
          name: t.parameter,
          type: 'SecureString',
          tier: 'Intelligent-Tiering',
          value: pulumi.secret(t.material),
          description: 'swarm-deployer engine TLS client material {ca, cert, key}',
        },
        { parent: this },
      );
    this.registerOutputs({});
  }
}
