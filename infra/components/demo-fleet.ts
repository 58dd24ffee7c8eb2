import * as aws from '@pulumi/aws';
import * as awsx from '@pulumi/awsx';
import * as pulumi from '@pulumi/pulumi';
import { swarmPrometheusConfig } from '../../functions/lib/prometheus/scrape-config.js';
import { requireArgs } from './util.js';

/** The public parameter naming the latest Amazon Linux 2023 arm64 AMI. */
export const AL2023_ARM64_AMI_PARAMETER =
  '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64';
export const DEMO_ENGINE_PORT = 2375;
export const DEMO_PROMETHEUS_PORT = 9090;

export interface DemoFleetArgs {
  /** Cluster names: one single-node swarm (one instance) each. */
  clusters: string[];
  instanceType: string;
  /** The tag StartSession is limited to (the deployer's instanceTag). */
  instanceTag: { key: string; value: string };
  partition: pulumi.Input<string>;
}

/** Prometheus's configuration on a demo manager: the same scrape contract as the local fleet's, every 15 s. */
export function demoPrometheusConfig(cluster: string): string {
  return swarmPrometheusConfig({
    cluster,
    socket: '/var/run/docker.sock',
    intervalSeconds: 15,
    timeoutSeconds: 10,
  });
}

/**
 * The boot script of a demo manager: Docker with its Engine API on 127.0.0.1:2375 only (a systemd
 * override; the SSM agent forwards to it, nothing else can reach it), a single-node swarm, and
 * Prometheus on 127.0.0.1:9090 (host network, reached through the same SSM session).
 */
export function demoUserData(cluster: string): string {
  return [
    '#!/bin/bash',
    'set -euo pipefail',
    'dnf install -y docker',
    'mkdir -p /etc/systemd/system/docker.service.d',
    "cat > /etc/systemd/system/docker.service.d/10-loopback-api.conf <<'UNIT'",
    '[Service]',
    'ExecStart=',
    `ExecStart=/usr/bin/dockerd -H fd:// -H tcp://127.0.0.1:${DEMO_ENGINE_PORT} --containerd=/run/containerd/containerd.sock`,
    'UNIT',
    'systemctl daemon-reload',
    'systemctl enable docker.service',
    'systemctl restart docker.service',
    "TOKEN=$(curl -sS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')",
    'ADDRESS=$(curl -sS -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/local-ipv4)',
    // Swarm's own ports (2377, 7946, 4789) listen on the private address; the security group has no ingress.
    'docker swarm init --advertise-addr "$ADDRESS" || docker info --format \'{{.Swarm.LocalNodeState}}\' | grep -qx active',
    'mkdir -p /etc/prometheus',
    "cat > /etc/prometheus/prometheus.yml <<'PROMETHEUS'",
    demoPrometheusConfig(cluster),
    'PROMETHEUS',
    'docker rm -f prometheus 2>/dev/null || true',
    'docker run -d --name prometheus --restart unless-stopped --network host --user root' +
      ' -v /etc/prometheus:/etc/prometheus:ro -v /var/run/docker.sock:/var/run/docker.sock:ro' +
      ' prom/prometheus:v2.55.1 --config.file=/etc/prometheus/prometheus.yml' +
      ` --web.listen-address=127.0.0.1:${DEMO_PROMETHEUS_PORT} --storage.tsdb.retention.time=2d`,
    '',
  ].join('\n');
}

/**
 * An optional fleet to try the deployer on: a VPC (public subnets, no NAT gateway), and one
 * arm64 Amazon Linux 2023 instance per cluster: a single-node swarm reached only through Session
 * Manager (security group with no ingress, IMDSv2 required), tagged with the deployer's instance tag.
 */
export class DemoFleet extends pulumi.ComponentResource {
  readonly vpc: awsx.ec2.Vpc;
  readonly securityGroup: aws.ec2.SecurityGroup;
  readonly role: aws.iam.Role;
  readonly instances: Record<string, aws.ec2.Instance>;

  constructor(name: string, args: DemoFleetArgs, opts?: pulumi.ComponentResourceOptions) {
    requireArgs('DemoFleet', [
      [args.clusters.length > 0, 'clusters: at least one'],
      [new Set(args.clusters).size === args.clusters.length, 'clusters: names must be unique'],
      [args.clusters.every((c) => /^[a-z0-9][a-z0-9-]{0,62}$/.test(c)), 'clusters: cluster names'],
      [
        /^[a-z][a-z0-9]*g[a-z0-9]*\.[a-z0-9]+$/.test(args.instanceType),
        'instanceType: a Graviton (arm64) type',
      ],
      [args.instanceTag.key.length > 0 && args.instanceTag.value.length > 0, 'instanceTag: key and value'],
    ]);
    super('swarm-deployer:index:DemoFleet', name, {}, opts);

    this.vpc = new awsx.ec2.Vpc(
      `${name}-vpc`,
      {
        cidrBlock: '10.42.0.0/16',
        numberOfAvailabilityZones: 2,
        natGateways: { strategy: 'None' },
        subnetStrategy: 'Auto',
        subnetSpecs: [{ type: 'Public', cidrMask: 24 }],
      },
      { parent: this },
    );
    this.securityGroup = new aws.ec2.SecurityGroup(
      `${name}-managers`,
      {
        vpcId: this.vpc.vpcId,
        description: 'swarm-deployer demo managers: no ingress (Session Manager only)',
        ingress: [],
        egress: [
          {
            protocol: '-1',
            fromPort: 0,
            toPort: 0,
            cidrBlocks: ['0.0.0.0/0'],
            description: 'SSM, ECR, packages',
          },
        ],
      },
      { parent: this },
    );
    this.role = new aws.iam.Role(
      `${name}-managers`,
      {
        description: 'swarm-deployer demo managers (SSM agent)',
        assumeRolePolicy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' },
          ],
        }),
      },
      { parent: this },
    );
    new aws.iam.RolePolicyAttachment(
      `${name}-managers-ssm`,
      {
        role: this.role.name,
        policyArn: pulumi.interpolate`arn:${args.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore`,
      },
      { parent: this },
    );
    const profile = new aws.iam.InstanceProfile(
      `${name}-managers`,
      { role: this.role.name },
      { parent: this },
    );
    const ami = aws.ssm.getParameterOutput({ name: AL2023_ARM64_AMI_PARAMETER }, { parent: this });
    const subnets = this.vpc.publicSubnetIds;

    this.instances = {};
    args.clusters.forEach((cluster, i) => {
      this.instances[cluster] = new aws.ec2.Instance(
        `${name}-${cluster}`,
        {
          ami: ami.value,
          instanceType: args.instanceType,
          subnetId: subnets.apply((ids) => ids[i % ids.length] as string),
          associatePublicIpAddress: true,
          vpcSecurityGroupIds: [this.securityGroup.id],
          iamInstanceProfile: profile.name,
          metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1 },
          rootBlockDevice: { volumeSize: 20, volumeType: 'gp3', encrypted: true },
          userData: demoUserData(cluster),
          userDataReplaceOnChange: true,
          tags: { Name: `${name}-${cluster}`, [args.instanceTag.key]: args.instanceTag.value },
        },
        { parent: this },
      );
    });
    this.registerOutputs({
      instanceIds: Object.fromEntries(Object.entries(this.instances).map(([c, inst]) => [c, inst.id])),
    });
  }
}
