/**
 * The optional demo fleet: instances reached only through Session Manager (no ingress, IMDSv2,
 * the deployer's instance tag), Docker's API on loopback only, and cluster entries the handlers accept.
 */
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { clusterSchema, servicePolicySchema } from '../../functions/lib/config/schema.js';
import { AL2023_ARM64_AMI_PARAMETER } from '../../infra/components/demo-fleet.js';
import { HANDLERS } from '../../infra/handlers.js';
import { analysis } from './fixtures.js';
import { AMI, ensureBundles, installMocks, ofType, one, REGION, resolve, settle } from './mocks.js';

const recording = installMocks({
  'aws:region': REGION,
  services: [
    {
      name: 'web',
      service: 'web',
      repository: 'demo',
      tags: { glob: 'v*' },
      clusters: ['demo1', 'demo2'],
      canary: { cluster: 'demo1', percent: 50 },
      analysis,
    },
  ],
  demoFleet: { clusters: ['demo1', 'demo2'] },
  instanceTag: { key: 'deployer', value: 'demo' },
  // This stack also sets the refresh interval (the program test keeps the default).
  registryAuthRefreshHours: 1,
});
let program: typeof import('../../infra/index.js');

beforeAll(async () => {
  ensureBundles(HANDLERS);
  program = await import('../../infra/index.js');
  await resolve(program.demoInstances);
  await settle(recording);
}, 120_000);

const instances = () => ofType(recording, 'aws:ec2/instance:Instance');

describe('demo fleet', () => {
  it('creates a VPC and one arm64 AL2023 instance per demo cluster, tagged for the deployer', () => {
    const vpc = one(recording, 'awsx:ec2:Vpc');
    expect(vpc.inputs.natGateways).toEqual({ strategy: 'None' });
    expect(
      instances()
        .map((i) => i.name)
        .sort(),
    ).toEqual(['demo-demo1', 'demo-demo2']);
    const amiCalls = recording.calls.filter((c) => c.token === 'aws:ssm/getParameter:getParameter');
    expect(amiCalls.map((c) => c.inputs.name)).toEqual([AL2023_ARM64_AMI_PARAMETER]);
    expect(AL2023_ARM64_AMI_PARAMETER).toBe(
      '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
    );
    for (const i of instances()) {
      expect(i.inputs.ami).toBe(AMI);
      expect(i.inputs.instanceType).toBe('t4g.small');
      expect(i.inputs.metadataOptions).toMatchObject({ httpTokens: 'required', httpEndpoint: 'enabled' });
      expect(i.inputs.tags).toMatchObject({ deployer: 'demo' });
      expect(i.inputs.vpcSecurityGroupIds).toEqual([
        one(recording, 'aws:ec2/securityGroup:SecurityGroup').id,
      ]);
      expect(vpc.state.publicSubnetIds).toContain(i.inputs.subnetId);
    }
  });

  it('opens no inbound port: the security group has no ingress rule, and none is added separately', () => {
    const sg = one(recording, 'aws:ec2/securityGroup:SecurityGroup');
    expect(sg.inputs.ingress ?? []).toEqual([]);
    expect(ofType(recording, 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule')).toEqual([]);
    expect(ofType(recording, 'aws:ec2/securityGroupRule:SecurityGroupRule')).toEqual([]);
  });

  it('lets the SSM agent in through the instance profile (AmazonSSMManagedInstanceCore)', () => {
    const role = one(recording, 'aws:iam/role:Role', 'demo-managers');
    expect(JSON.parse(role.inputs.assumeRolePolicy).Statement[0].Principal).toEqual({
      Service: 'ec2.amazonaws.com',
    });
    const attachment = one(recording, 'aws:iam/rolePolicyAttachment:RolePolicyAttachment').inputs;
    expect(attachment).toEqual({
      role: role.state.name,
      policyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
    });
    const profile = one(recording, 'aws:iam/instanceProfile:InstanceProfile');
    for (const i of instances()) expect(i.inputs.iamInstanceProfile).toBe(profile.state.name);
  });

  it('starts Docker with its API on 127.0.0.1:2375 only, a swarm, and Prometheus on loopback', () => {
    for (const i of instances()) {
      const script: string = i.inputs.userData;
      const dockerd = script.split('\n').filter((l) => l.startsWith('ExecStart=/usr/bin/dockerd'));
      expect(dockerd).toHaveLength(1);
      const hosts = [...(dockerd[0] as string).matchAll(/-H\s+(\S+)/g)].map((m) => m[1]);
      expect(hosts).toEqual(['fd://', 'tcp://127.0.0.1:2375']);
      expect(script).toMatch(/^ExecStart=$/m); // the override clears the packaged ExecStart first
      expect(script).toContain('/etc/systemd/system/docker.service.d/');
      expect(script).not.toMatch(/0\.0\.0\.0|tcp:\/\/(?!127\.0\.0\.1)/);
      expect(script).toMatch(/^docker swarm init /m);
      expect(script).toContain('--web.listen-address=127.0.0.1:9090');
      expect(script).toContain(`"replacement": "${i.name.replace('demo-', '')}"`);
    }
  });

  it('has user data that bash parses and ShellCheck passes (it cannot boot here: no EC2)', () => {
    for (const i of instances()) {
      const script: string = i.inputs.userData;
      expect(script.startsWith('#!/bin/bash\n')).toBe(true);
      // Parsed only (-n): the script is never run on this machine, it would reconfigure it.
      const parsed = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
      expect(parsed.stderr).toBe('');
      expect(parsed.status).toBe(0);
      const checked = spawnSync('shellcheck', ['--shell=bash', '--severity=warning', '--format=gcc', '-'], {
        input: script,
        encoding: 'utf8',
      });
      expect(checked.error).toBeUndefined();
      expect(checked.stdout).toBe('');
      expect(checked.status).toBe(0);
    }
  });

  it('registers each instance as a cluster entry that passes clusterSchema', async () => {
    const params = ofType(recording, 'aws:ssm/parameter:Parameter');
    const byName = new Map(params.map((p) => [p.inputs.name, p.inputs]));
    for (const i of instances()) {
      const cluster = i.name.replace('demo-', '');
      const value = byName.get(`/deployer/clusters/${cluster}`)?.insecureValue;
      const entry = clusterSchema.parse(JSON.parse(value));
      expect(entry).toMatchObject({
        name: cluster,
        region: REGION,
        target: i.id,
        engine: { port: 2375, document: 'AWS-StartPortForwardingSession' },
        prometheus: { tunnelPort: 9090 },
      });
    }
    expect(
      servicePolicySchema.parse(JSON.parse(byName.get('/deployer/services/web')?.insecureValue)).clusters,
    ).toEqual(['demo1', 'demo2']);
    expect(await resolve(program.demoInstances)).toEqual(
      Object.fromEntries(instances().map((i) => [i.name.replace('demo-', ''), i.id])),
    );
  });

  it('limits StartSession to instances with the same tag', () => {
    const policy = JSON.parse(
      one(recording, 'aws:iam/rolePolicy:RolePolicy', 'functions-preflight-cluster').inputs.policy,
    );
    const sessions = policy.Statement.find((s: { Sid: string }) => s.Sid === 'SessionsOnTaggedManagers');
    expect(sessions.Condition.StringEquals).toEqual({ 'ssm:resourceTag/deployer': 'demo' });
  });
});

describe('registryAuthRefreshHours', () => {
  it('sets the schedule of the registry credential refresh (singular unit for one hour)', () => {
    const rule = one(recording, 'aws:cloudwatch/eventRule:EventRule', 'trigger-registry-auth');
    expect(rule.inputs.scheduleExpression).toBe('rate(1 hour)');
  });
});
