import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { DescribeParametersCommand, GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { awsContentReader } from '../../../functions/lib/secrets/source.js';

const SECRET = 'db-S3CRET-never-in-an-error-4b2f';
const SM_ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:web/db-AbCdEf';
const ssmMock = mockClient(SSMClient);
const smMock = mockClient(SecretsManagerClient);

/** An SDK-shaped failure whose own message carries the secret, to prove it is never kept. */
function awsError(name: string, status: number): Error {
  return Object.assign(new Error(`${name}: something about ${SECRET}`), {
    name,
    $metadata: { httpStatusCode: status },
  });
}

function reader() {
  const factory = vi.fn((region: string | undefined) => new SecretsManagerClient(region ? { region } : {}));
  const ssm = vi.fn(() => new SSMClient({ region: 'eu-west-1' }));
  return { factory, ssm, content: awsContentReader({ ssm, secretsManager: factory }) };
}

/** The error a call rejects with, and its serialised form (message, own fields and cause's message). */
async function failure(call: Promise<unknown>) {
  const error = (await call.then(
    () => expect.unreachable('resolved'),
    (e: unknown) => e,
  )) as Error & { cause?: Error };
  return { error, text: `${error.message} ${JSON.stringify({ ...error, cause: undefined })}` };
}

afterEach(() => {
  ssmMock.reset();
  smMock.reset();
});

describe('awsContentReader on parameters', () => {
  it('reads the current version from the metadata only (DescribeParameters on the exact name), never the value', async () => {
    ssmMock.on(DescribeParametersCommand).resolves({
      Parameters: [
        { Name: '/app/web/db-password', Type: 'SecureString', KeyId: 'alias/aws/ssm', Version: 7 },
      ],
    });
    const { content, ssm, factory } = reader();
    const controller = new AbortController();
    expect(ssm).not.toHaveBeenCalled();

    const version = await content.versionOf({ parameter: '/app/web/db-password' }, controller.signal);
    await content.versionOf({ parameter: '/app/web/db-password' });

    expect(version).toBe('7');
    const [command, options] = (ssmMock.commandCalls(DescribeParametersCommand)[0]?.args ??
      []) as unknown as [DescribeParametersCommand, unknown];
    expect(command.input).toEqual({
      ParameterFilters: [{ Key: 'Name', Option: 'Equals', Values: ['/app/web/db-password'] }],
      MaxResults: 50,
    });
    expect(options).toEqual({ abortSignal: controller.signal });
    expect(ssmMock.commandCalls(GetParameterCommand)).toHaveLength(0);
    expect(ssm).toHaveBeenCalledTimes(1);
    expect(factory).not.toHaveBeenCalled();
  });

  it('follows NextToken over empty pages, and takes only the item of exactly that name', async () => {
    const filter = [{ Key: 'Name', Option: 'Equals', Values: ['/app/web/db-password'] }];
    ssmMock
      .on(DescribeParametersCommand, { ParameterFilters: filter, MaxResults: 50 })
      .resolves({ Parameters: [], NextToken: 'page-2' })
      .on(DescribeParametersCommand, { ParameterFilters: filter, MaxResults: 50, NextToken: 'page-2' })
      // SSM's Name filter treats the leading "/" as optional: a parameter without it may come too.
      .resolves({
        Parameters: [
          { Name: 'app/web/db-password', Version: 2 },
          { Name: '/app/web/db-password', Version: 12 },
        ],
      });

    const version = await reader().content.versionOf({ parameter: '/app/web/db-password' });

    expect(version).toBe('12');
    expect(ssmMock.commandCalls(DescribeParametersCommand)).toHaveLength(2);
  });

  it('counts no item of that name as not found, naming the parameter', async () => {
    ssmMock
      .on(DescribeParametersCommand)
      .resolvesOnce({ Parameters: [], NextToken: 'page-2' })
      .resolvesOnce({ Parameters: [{ Name: 'app/web/db-password', Version: 2 }] });

    const { error } = await failure(reader().content.versionOf({ parameter: '/app/web/db-password' }));

    expect(error).toMatchObject({
      name: 'SecretNotFoundError',
      retryable: false,
      reference: 'parameter /app/web/db-password',
      message: 'parameter /app/web/db-password does not exist',
    });
    expect(ssmMock.commandCalls(GetParameterCommand)).toHaveLength(0);
  });

  it('refuses an item without a version, and gives up retryably on endless pages', async () => {
    ssmMock.on(DescribeParametersCommand).resolves({ Parameters: [{ Name: '/p' }] });
    await expect(reader().content.versionOf({ parameter: '/p' })).rejects.toMatchObject({
      name: 'SecretNotFoundError',
      message: 'parameter /p answered without a version',
    });

    ssmMock.reset();
    ssmMock.on(DescribeParametersCommand).resolves({ Parameters: [], NextToken: 'again' });
    await expect(reader().content.versionOf({ parameter: '/p' })).rejects.toMatchObject({
      name: 'SecretUnavailableError',
      retryable: true,
      reference: 'parameter /p',
    });
    expect(ssmMock.commandCalls(DescribeParametersCommand)).toHaveLength(20);
  });

  it('reads the content at the pinned version with the name:version selector, decrypted, as bytes', async () => {
    ssmMock.on(GetParameterCommand).resolves({
      Parameter: {
        Name: '/app/web/db-password',
        Selector: ':3',
        Type: 'SecureString',
        Value: SECRET,
        Version: 3,
      },
    });
    const { content } = reader();
    const controller = new AbortController();

    const bytes = await content.read({ parameter: '/app/web/db-password', version: '3' }, controller.signal);

    expect(bytes).toEqual(Buffer.from(SECRET, 'utf8'));
    const [command, options] = (ssmMock.commandCalls(GetParameterCommand)[0]?.args ?? []) as unknown as [
      GetParameterCommand,
      unknown,
    ];
    expect(command.input).toEqual({ Name: '/app/web/db-password:3', WithDecryption: true });
    expect(options).toEqual({ abortSignal: controller.signal });
  });

  it('reads a String parameter as well (configs need not be encrypted)', async () => {
    ssmMock
      .on(GetParameterCommand)
      .resolves({ Parameter: { Type: 'String', Value: 'a=1\nb=2', Version: 1 } });
    const bytes = await reader().content.read({ parameter: '/app/web/config', version: '1' });
    expect(bytes.toString('utf8')).toBe('a=1\nb=2');
  });

  it('refuses a version that is not a parameter version without calling SSM', async () => {
    const { error } = await failure(reader().content.read({ parameter: '/p', version: 'latest' }));
    expect(error).toMatchObject({ name: 'SecretNotFoundError', retryable: false });
    expect(ssmMock.commandCalls(GetParameterCommand)).toHaveLength(0);
  });

  it('refuses an answer for another version than the pinned one', async () => {
    ssmMock
      .on(GetParameterCommand)
      .resolves({ Parameter: { Type: 'SecureString', Value: SECRET, Version: 4 } });
    const { error, text } = await failure(reader().content.read({ parameter: '/p', version: '3' }));
    expect(error).toMatchObject({ name: 'SecretNotFoundError', reference: 'parameter /p at version 3' });
    expect(text).not.toContain(SECRET);
  });

  it.each([
    ['ParameterNotFound', 400, 'SecretNotFoundError', false],
    ['ParameterVersionNotFound', 400, 'SecretNotFoundError', false],
    ['InvalidFilterValue', 400, 'SecretNotFoundError', false],
    ['AccessDeniedException', 400, 'SecretAccessDeniedError', false],
    ['InvalidKeyId', 400, 'SecretAccessDeniedError', false],
    ['ThrottlingException', 400, 'SecretUnavailableError', true],
    ['InternalServerError', 500, 'SecretUnavailableError', true],
  ])('maps SSM %s to %s, naming the parameter and never the value', async (aws, status, name, retryable) => {
    ssmMock.on(DescribeParametersCommand).rejects(awsError(aws, status));
    ssmMock.on(GetParameterCommand).rejects(awsError(aws, status));
    const { content } = reader();

    const current = await failure(content.versionOf({ parameter: '/app/web/db-password' }));
    const pinned = await failure(content.read({ parameter: '/app/web/db-password', version: '3' }));

    expect(current.error).toMatchObject({
      name,
      retryable,
      reference: 'parameter /app/web/db-password',
      message: `reading parameter /app/web/db-password failed: ${aws}`,
    });
    expect(pinned.error).toMatchObject({
      name,
      retryable,
      reference: 'parameter /app/web/db-password at version 3',
      message: `reading parameter /app/web/db-password at version 3 failed: ${aws}`,
    });
    for (const { text } of [current, pinned]) expect(text).not.toContain(SECRET);
  });

  it('reports an aborted call as retryable', async () => {
    ssmMock
      .on(DescribeParametersCommand)
      .rejects(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    const controller = new AbortController();
    controller.abort();
    await expect(reader().content.versionOf({ parameter: '/p' }, controller.signal)).rejects.toMatchObject({
      name: 'SecretUnavailableError',
      retryable: true,
    });
  });
});

describe('awsContentReader on Secrets Manager', () => {
  it('picks the VersionId staged AWSCURRENT, with a client of the ARN region', async () => {
    smMock.on(DescribeSecretCommand).resolves({
      ARN: SM_ARN,
      VersionIdsToStages: {
        'aaaaaaaa-0000-4000-8000-000000000001': ['AWSPREVIOUS'],
        'bbbbbbbb-0000-4000-8000-000000000002': ['AWSCURRENT', 'blue'],
        'cccccccc-0000-4000-8000-000000000003': ['AWSPENDING'],
      },
    });
    const { content, factory } = reader();
    const controller = new AbortController();

    const version = await content.versionOf({ secretsManager: SM_ARN }, controller.signal);

    expect(version).toBe('bbbbbbbb-0000-4000-8000-000000000002');
    const [command, options] = (smMock.commandCalls(DescribeSecretCommand)[0]?.args ?? []) as unknown as [
      DescribeSecretCommand,
      unknown,
    ];
    expect(command.input).toEqual({ SecretId: SM_ARN });
    expect(options).toEqual({ abortSignal: controller.signal });
    expect(smMock.commandCalls(GetSecretValueCommand)).toHaveLength(0);
    expect(factory.mock.calls).toEqual([['eu-central-1']]);
  });

  it('reads a name with the default region client, at the pinned VersionId', async () => {
    smMock.on(GetSecretValueCommand).resolves({ SecretString: SECRET, VersionId: 'v-1' });
    const { content, factory } = reader();
    const controller = new AbortController();

    const bytes = await content.read({ secretsManager: 'web/db', version: 'v-1' }, controller.signal);

    expect(bytes).toEqual(Buffer.from(SECRET, 'utf8'));
    const [command, options] = (smMock.commandCalls(GetSecretValueCommand)[0]?.args ?? []) as unknown as [
      GetSecretValueCommand,
      unknown,
    ];
    expect(command.input).toEqual({ SecretId: 'web/db', VersionId: 'v-1' });
    expect(options).toEqual({ abortSignal: controller.signal });
    expect(factory.mock.calls).toEqual([[undefined]]);
  });

  it('reads a binary secret as its bytes', async () => {
    const binary = new Uint8Array([0, 1, 2, 0xfe, 0xff]);
    smMock.on(GetSecretValueCommand).resolves({ SecretBinary: binary });
    const bytes = await reader().content.read({ secretsManager: 'web/keystore', version: 'v-2' });
    expect([...bytes]).toEqual([0, 1, 2, 0xfe, 0xff]);
  });

  it('counts a secret scheduled for deletion, or one without a current version, as not found', async () => {
    smMock
      .on(DescribeSecretCommand, { SecretId: 'gone' })
      .resolves({ DeletedDate: new Date(), VersionIdsToStages: { 'v-1': ['AWSCURRENT'] } })
      .on(DescribeSecretCommand, { SecretId: 'empty' })
      .resolves({ VersionIdsToStages: {} });
    const { content } = reader();

    await expect(content.versionOf({ secretsManager: 'gone' })).rejects.toMatchObject({
      name: 'SecretNotFoundError',
      reference: 'Secrets Manager secret gone',
      message: 'Secrets Manager secret gone is scheduled for deletion',
    });
    await expect(content.versionOf({ secretsManager: 'empty' })).rejects.toMatchObject({
      name: 'SecretNotFoundError',
      reference: 'Secrets Manager secret empty',
    });
  });

  it.each([
    ['ResourceNotFoundException', 400, 'SecretNotFoundError'],
    ['InvalidRequestException', 400, 'SecretNotFoundError'],
    ['AccessDeniedException', 400, 'SecretAccessDeniedError'],
    ['DecryptionFailure', 400, 'SecretAccessDeniedError'],
    ['ThrottlingException', 400, 'SecretUnavailableError'],
    ['InternalServiceError', 500, 'SecretUnavailableError'],
  ])('maps Secrets Manager %s to %s, naming the secret and never the value', async (aws, status, name) => {
    smMock.on(DescribeSecretCommand).rejects(awsError(aws, status));
    smMock.on(GetSecretValueCommand).rejects(awsError(aws, status));
    const { content } = reader();

    const current = await failure(content.versionOf({ secretsManager: 'web/db' }));
    const pinned = await failure(content.read({ secretsManager: 'web/db', version: 'v-1' }));

    expect(current.error).toMatchObject({
      name,
      message: `reading Secrets Manager secret web/db failed: ${aws}`,
    });
    expect(pinned.error).toMatchObject({
      name,
      message: `reading Secrets Manager secret web/db at version v-1 failed: ${aws}`,
    });
    for (const { error, text } of [current, pinned]) {
      expect(error.cause).toBeDefined();
      expect(text).not.toContain(SECRET);
    }
  });

  it('refuses a version without a value, without quoting anything', async () => {
    smMock.on(GetSecretValueCommand).resolves({ VersionId: 'v-1' });
    await expect(reader().content.read({ secretsManager: 'web/db', version: 'v-1' })).rejects.toMatchObject({
      name: 'SecretFormatError',
      message: 'Secrets Manager secret web/db at version v-1 has no value',
    });
  });
});
