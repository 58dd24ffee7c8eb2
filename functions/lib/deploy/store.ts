import { gunzipSync, gzipSync } from 'node:zlib';
import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  type GetParametersByPathCommandOutput,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { Snapshot } from '../swarm/types.js';
import { RecordError } from './errors.js';

export interface LockHolder {
  deploymentId: string;
  executionArn: string;
  digest: string;
  acquiredAt: string;
}

export type DigestStatus = 'running' | 'succeeded' | 'rolled-back' | 'failed';

export interface DigestRecord {
  status: DigestStatus;
  deploymentId: string;
  /** The execution that deployed it: another execution of the same push is a duplicate. */
  executionArn?: string;
  at: string;
}

/**
 * The deployment's durable record in Parameter Store, under the account's prefix:
 *   locks/<service>                         the service's lock (created only if absent: atomic)
 *   digests/<service>/<hex>                 what happened to a digest (duplicate detection)
 *   latest/<service>                        the newest push seen (a queued older digest yields to it)
 *   deployments/<id>/snapshots/<cluster>    each cluster's service before we touched it (gzip+base64)
 *   deployments/<id>/touched/<cluster>.<what>  recorded before each change: what rollback must undo
 *   deployments/<id>/approval               the waiting task token (never sent to people)
 *   deployments/<id>/abort                  an abort request (API abort, superseded)
 * Parameter Store over DynamoDB: PutParameter without Overwrite is an atomic create, the
 * configuration already lives there, and there is no table to provision. Its throughput (40 TPS
 * by default, 1000 with higher throughput) is far above a deployer's needs.
 */
export class DeploymentStore {
  constructor(
    private readonly ssm: SSMClient,
    private readonly prefix: string,
  ) {}

  private async create(name: string, value: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.ssm.send(
        new PutParameterCommand({
          Name: name,
          Value: value,
          Type: 'String',
          Overwrite: false,
          Tier: 'Intelligent-Tiering',
        }),
        {
          abortSignal: signal,
        },
      );
      return true;
    } catch (err) {
      if (err instanceof ParameterAlreadyExists || (err as Error).name === 'ParameterAlreadyExists')
        return false;
      throw new RecordError(`creating parameter ${name} failed: ${(err as Error).name}`, { cause: err });
    }
  }

  private async put(name: string, value: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.ssm.send(
        new PutParameterCommand({
          Name: name,
          Value: value,
          Type: 'String',
          Overwrite: true,
          Tier: 'Intelligent-Tiering',
        }),
        {
          abortSignal: signal,
        },
      );
    } catch (err) {
      throw new RecordError(`writing parameter ${name} failed: ${(err as Error).name}`, { cause: err });
    }
  }

  private async get(name: string, signal?: AbortSignal): Promise<string | undefined> {
    try {
      const out = await this.ssm.send(new GetParameterCommand({ Name: name }), { abortSignal: signal });
      return out.Parameter?.Value;
    } catch (err) {
      if (err instanceof ParameterNotFound || (err as Error).name === 'ParameterNotFound') return undefined;
      throw new RecordError(`reading parameter ${name} failed: ${(err as Error).name}`, { cause: err });
    }
  }

  private async delete(name: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.ssm.send(new DeleteParameterCommand({ Name: name }), { abortSignal: signal });
    } catch (err) {
      if (err instanceof ParameterNotFound || (err as Error).name === 'ParameterNotFound') return;
      throw new RecordError(`deleting parameter ${name} failed: ${(err as Error).name}`, { cause: err });
    }
  }

  private async list(path: string, signal?: AbortSignal): Promise<Array<{ name: string; value: string }>> {
    const out: Array<{ name: string; value: string }> = [];
    let NextToken: string | undefined;
    do {
      let page: GetParametersByPathCommandOutput;
      try {
        page = await this.ssm.send(
          new GetParametersByPathCommand({ Path: path, Recursive: true, NextToken }),
          { abortSignal: signal },
        );
      } catch (err) {
        throw new RecordError(`listing parameters under ${path} failed: ${(err as Error).name}`, {
          cause: err,
        });
      }
      for (const p of page.Parameters ?? [])
        if (p.Name && p.Value !== undefined) out.push({ name: p.Name, value: p.Value });
      NextToken = page.NextToken;
    } while (NextToken);
    return out;
  }

  private paths = {
    lock: (service: string) => `${this.prefix}/locks/${service}`,
    digest: (service: string, digest: string) =>
      `${this.prefix}/digests/${service}/${digest.replace(/^sha256:/, '')}`,
    latest: (service: string) => `${this.prefix}/latest/${service}`,
    deployment: (id: string) => `${this.prefix}/deployments/${id}`,
    snapshot: (id: string, cluster: string) => `${this.prefix}/deployments/${id}/snapshots/${cluster}`,
    touched: (id: string) => `${this.prefix}/deployments/${id}/touched`,
    approval: (id: string) => `${this.prefix}/deployments/${id}/approval`,
    abort: (id: string) => `${this.prefix}/deployments/${id}/abort`,
  };

  // -- lock ---------------------------------------------------------------------------------

  /** Takes the service's lock if nobody holds it; otherwise says who does. Atomic. */
  async acquireLock(
    service: string,
    holder: LockHolder,
    signal?: AbortSignal,
  ): Promise<{ acquired: true } | { acquired: false; holder: LockHolder }> {
    if (await this.create(this.paths.lock(service), JSON.stringify(holder), signal))
      return { acquired: true };
    const current = await this.get(this.paths.lock(service), signal);
    if (current === undefined) return this.acquireLock(service, holder, signal); // released in between
    return { acquired: false, holder: JSON.parse(current) as LockHolder };
  }

  /** Releases the lock if `deploymentId` holds it (a stale holder's lock is released by id too). */
  async releaseLock(service: string, deploymentId: string, signal?: AbortSignal): Promise<boolean> {
    const current = await this.get(this.paths.lock(service), signal);
    if (!current || (JSON.parse(current) as LockHolder).deploymentId !== deploymentId) return false;
    await this.delete(this.paths.lock(service), signal);
    return true;
  }

  // -- digests ------------------------------------------------------------------------------

  async digestStatus(
    service: string,
    digest: string,
    signal?: AbortSignal,
  ): Promise<DigestRecord | undefined> {
    const v = await this.get(this.paths.digest(service, digest), signal);
    return v ? (JSON.parse(v) as DigestRecord) : undefined;
  }

  /** Records what happened to a digest; the execution that set "running" stays recorded with later statuses. */
  async setDigestStatus(
    service: string,
    digest: string,
    deploymentId: string,
    status: DigestStatus,
    signal?: AbortSignal,
    executionArn?: string,
  ): Promise<void> {
    const arn = executionArn ?? (await this.digestStatus(service, digest, signal))?.executionArn;
    const record: DigestRecord = { status, deploymentId, executionArn: arn, at: new Date().toISOString() };
    await this.put(this.paths.digest(service, digest), JSON.stringify(record), signal);
  }

  /** Records a push as the newest of its service unless a newer one is already recorded. */
  async notePush(service: string, digest: string, time: string, signal?: AbortSignal): Promise<void> {
    const v = await this.get(this.paths.latest(service), signal);
    const latest = v ? (JSON.parse(v) as { digest: string; time: string }) : undefined;
    if (!latest || Date.parse(time) >= Date.parse(latest.time))
      await this.put(this.paths.latest(service), JSON.stringify({ digest, time }), signal);
  }

  async latestPush(
    service: string,
    signal?: AbortSignal,
  ): Promise<{ digest: string; time: string } | undefined> {
    const v = await this.get(this.paths.latest(service), signal);
    return v ? (JSON.parse(v) as { digest: string; time: string }) : undefined;
  }

  // -- snapshots and the touched list -------------------------------------------------------

  /** Stores a cluster's snapshot once: a retry keeps the first one (taken before any change) and returns it. */
  async saveSnapshot(deploymentId: string, snap: Snapshot, signal?: AbortSignal): Promise<Snapshot> {
    const name = this.paths.snapshot(deploymentId, snap.cluster);
    const value = gzipSync(JSON.stringify(snap)).toString('base64');
    if (value.length > 8192)
      throw new RecordError(
        `snapshot of ${snap.service} on ${snap.cluster} is ${value.length} bytes compressed, over Parameter Store's 8 KiB`,
      );
    if (await this.create(name, value, signal)) return snap;
    return (await this.snapshot(deploymentId, snap.cluster, signal)) as Snapshot;
  }

  async snapshot(deploymentId: string, cluster: string, signal?: AbortSignal): Promise<Snapshot | undefined> {
    const v = await this.get(this.paths.snapshot(deploymentId, cluster), signal);
    return v ? (JSON.parse(gunzipSync(Buffer.from(v, 'base64')).toString('utf8')) as Snapshot) : undefined;
  }

  /** Records, before a change, that a cluster is about to be touched (canary or primary). */
  async markTouched(
    deploymentId: string,
    cluster: string,
    what: 'canary' | 'primary',
    signal?: AbortSignal,
  ): Promise<void> {
    await this.create(
      `${this.paths.touched(deploymentId)}/${cluster}.${what}`,
      new Date().toISOString(),
      signal,
    );
  }

  /** The clusters this deployment touched, in no particular order. */
  async touched(deploymentId: string, signal?: AbortSignal): Promise<string[]> {
    const names = (await this.list(this.paths.touched(deploymentId), signal)).map(
      (p) => p.name.split('/').pop() as string,
    );
    return [...new Set(names.map((n) => n.replace(/\.(canary|primary)$/, '')))].sort();
  }

  // -- approval and abort -------------------------------------------------------------------

  async saveApprovalToken(deploymentId: string, token: string, signal?: AbortSignal): Promise<void> {
    await this.put(this.paths.approval(deploymentId), token, signal);
  }

  async approvalToken(deploymentId: string, signal?: AbortSignal): Promise<string | undefined> {
    return this.get(this.paths.approval(deploymentId), signal);
  }

  async requestAbort(deploymentId: string, reason: string, signal?: AbortSignal): Promise<void> {
    await this.put(this.paths.abort(deploymentId), reason, signal);
  }

  async abortRequested(deploymentId: string, signal?: AbortSignal): Promise<string | undefined> {
    return this.get(this.paths.abort(deploymentId), signal);
  }

  /** Removes the record of a finished deployment (snapshots, touched list, token, abort flag). */
  async deleteRecord(deploymentId: string, signal?: AbortSignal): Promise<void> {
    for (const p of await this.list(this.paths.deployment(deploymentId), signal))
      await this.delete(p.name, signal);
  }
}
