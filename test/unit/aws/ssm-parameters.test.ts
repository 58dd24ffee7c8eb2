import {
  DeleteParameterCommand,
  DeleteParametersCommand,
  DescribeParametersCommand,
  type DescribeParametersCommandInput,
  GetParameterCommand,
  GetParameterHistoryCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  HierarchyLevelLimitExceededException,
  InvalidFilterKey,
  InvalidFilterOption,
  InvalidFilterValue,
  InvalidNextToken,
  ParameterAlreadyExists,
  ParameterNotFound,
  ParameterPatternMismatchException,
  ParameterVersionNotFound,
  PutParameterCommand,
  paginateGetParametersByPath,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { awsContentReader } from '../../../functions/lib/secrets/source.js';
import { type AwsStandIn, startAwsStandIn } from '../../../local/aws/server.js';
import { type Clients, caught, clients } from './harness.js';

let standIn: AwsStandIn;
let aws: Clients;

beforeAll(async () => {
  standIn = await startAwsStandIn();
  aws = clients(standIn.endpoint);
});

afterAll(async () => {
  aws?.destroy();
  await standIn?.stop();
});

beforeEach(() => {
  standIn.parameters.clear();
});

const put = (Name: string, Value: string, extra: Record<string, unknown> = {}) =>
  aws.ssm.send(new PutParameterCommand({ Name, Value, Type: 'String', ...extra }));

describe('PutParameter and GetParameter', () => {
  it('creates version 1 and answers in the GetParameter shape', async () => {
    const before = Date.now();

    const created = await put('/deployer/clusters/eu-1', '{"target":"mi-1"}');
    const read = await aws.ssm.send(new GetParameterCommand({ Name: '/deployer/clusters/eu-1' }));

    expect(created).toMatchObject({ Version: 1, Tier: 'Standard' });
    expect(read.Parameter).toEqual({
      Name: '/deployer/clusters/eu-1',
      Type: 'String',
      Value: '{"target":"mi-1"}',
      Version: 1,
      LastModifiedDate: expect.any(Date),
      ARN: 'arn:aws:ssm:us-east-1:000000000000:parameter/deployer/clusters/eu-1',
      DataType: 'text',
    });
    const modified = read.Parameter?.LastModifiedDate?.getTime() ?? 0;
    expect(modified).toBeGreaterThanOrEqual(before - 1000);
    expect(modified).toBeLessThanOrEqual(Date.now() + 1000);
    expect(standIn.parameters.get('/deployer/clusters/eu-1')).toMatchObject({
      value: '{"target":"mi-1"}',
      version: 1,
      lastModifiedUser: 'arn:aws:iam::000000000000:user/AKIASTANDINTEST',
    });
  });

  it('refuses an existing name without Overwrite, and increments the version with it', async () => {
    await put('/deployer/locks/web', 'exec-1');

    const refused = await caught(() => put('/deployer/locks/web', 'exec-2'));
    const overwritten = await put('/deployer/locks/web', 'exec-3', { Overwrite: true });
    const again = await put('/deployer/locks/web', 'exec-4', { Overwrite: true });

    expect(refused).toBeInstanceOf(ParameterAlreadyExists);
    expect(refused.message).toBe(
      'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
    );
    expect(refused.$metadata).toMatchObject({ httpStatusCode: 400 });
    expect(overwritten.Version).toBe(2);
    expect(again.Version).toBe(3);
    expect(standIn.parameters.get('/deployer/locks/web')?.value).toBe('exec-4');
  });

  it('lets exactly one of concurrent creates of one name win', async () => {
    const contenders = Array.from({ length: 8 }, (_, i) => `exec-${i}`);

    const results = await Promise.allSettled(contenders.map((value) => put('/deployer/locks/api', value)));

    const won = results.flatMap((result, i) => (result.status === 'fulfilled' ? [contenders[i]] : []));
    const lost = results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(7);
    for (const reason of lost) expect(reason).toBeInstanceOf(ParameterAlreadyExists);
    expect(standIn.parameters.get('/deployer/locks/api')).toMatchObject({ value: won[0], version: 1 });
  });

  it('lets exactly one of two concurrent creates win, twice in a row', async () => {
    for (const name of ['/deployer/locks/a', '/deployer/locks/b']) {
      const [first, second] = await Promise.allSettled([put(name, 'one'), put(name, 'two')]);

      const statuses = [first?.status, second?.status].sort();
      expect(statuses).toEqual(['fulfilled', 'rejected']);
      const winner = first?.status === 'fulfilled' ? 'one' : 'two';
      expect(standIn.parameters.get(name)?.value).toBe(winner);
    }
  });

  it('needs a type to create, keeps the type on overwrite', async () => {
    const untyped = await caught(() =>
      aws.ssm.send(new PutParameterCommand({ Name: '/deployer/x', Value: 'v' })),
    );
    await aws.ssm.send(new PutParameterCommand({ Name: '/deployer/list', Value: 'a,b', Type: 'StringList' }));
    await aws.ssm.send(new PutParameterCommand({ Name: '/deployer/list', Value: 'a,b,c', Overwrite: true }));

    expect(untyped.name).toBe('ValidationException');
    expect(untyped.message).toBe('A parameter type is required when you create a parameter.');
    const list = await aws.ssm.send(new GetParameterCommand({ Name: '/deployer/list' }));
    expect(list.Parameter).toMatchObject({ Type: 'StringList', Value: 'a,b,c', Version: 2 });
  });

  it('hides SecureString values unless WithDecryption', async () => {
    await put('/deployer/tls/key', 'PRIVATE KEY', { Type: 'SecureString' });

    const sealed = await aws.ssm.send(new GetParameterCommand({ Name: '/deployer/tls/key' }));
    const opened = await aws.ssm.send(
      new GetParameterCommand({ Name: '/deployer/tls/key', WithDecryption: true }),
    );

    expect(sealed.Parameter?.Type).toBe('SecureString');
    expect(sealed.Parameter?.Value).not.toContain('PRIVATE');
    expect(Buffer.from(sealed.Parameter?.Value ?? '', 'base64').toString('utf8')).not.toContain('PRIVATE');
    expect(opened.Parameter?.Value).toBe('PRIVATE KEY');
  });

  it('validates names, types, values and patterns like SSM', async () => {
    const relative = await caught(() => put('deployer/x', 'v'));
    const reserved = await caught(() => put('/aws/x', 'v'));
    const spaces = await caught(() => put('/deployer/bad name', 'v'));
    const deep = await caught(() => put(`/${Array.from({ length: 16 }, (_, i) => `l${i}`).join('/')}`, 'v'));
    const badType = await caught(() => put('/deployer/x', 'v', { Type: 'Secret' }));
    const empty = await caught(() => put('/deployer/x', ''));
    const tooLong = await caught(() => put('/deployer/x', 'x'.repeat(4097)));
    const pattern = await caught(() => put('/deployer/x', 'abc', { AllowedPattern: '^[0-9]+$' }));
    const missingName = await caught(() =>
      aws.ssm.send(new GetParameterCommand({ Name: undefined as never })),
    );

    expect(relative.message).toBe('Parameter name must be a fully qualified name.');
    expect(reserved.name).toBe('ValidationException');
    expect(reserved.message).toContain('can\'t be prefixed with "aws" or "ssm" (case-insensitive)');
    expect(spaces.name).toBe('ValidationException');
    expect(deep).toBeInstanceOf(HierarchyLevelLimitExceededException);
    expect(badType.message).toBe(
      "1 validation error detected: Value 'Secret' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [String, StringList, SecureString]",
    );
    expect(empty.message).toBe(
      "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    expect(tooLong.message).toMatch(/^Standard tier parameters support a maximum parameter value of 4096/);
    expect(pattern).toBeInstanceOf(ParameterPatternMismatchException);
    expect(missingName.message).toBe(
      "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null",
    );
    expect(standIn.parameters.list()).toEqual([]);
  });

  it('stores larger values in the advanced tier', async () => {
    const advanced = await put('/deployer/big', 'x'.repeat(6000), { Tier: 'Advanced' });
    const intelligent = await put('/deployer/big2', 'x'.repeat(6000), { Tier: 'Intelligent-Tiering' });
    const downgrade = await caught(() =>
      put('/deployer/big', 'small', { Tier: 'Standard', Overwrite: true }),
    );

    expect(advanced.Tier).toBe('Advanced');
    expect(intelligent.Tier).toBe('Advanced');
    expect(downgrade.message).toMatch(/can't downgrade a parameter from the advanced-parameter tier/);
  });

  it('reads old versions with a selector, and the history', async () => {
    await put('/deployer/v', 'one');
    await put('/deployer/v', 'two', { Overwrite: true });

    const first = await aws.ssm.send(new GetParameterCommand({ Name: '/deployer/v:1' }));
    const missing = await caught(() => aws.ssm.send(new GetParameterCommand({ Name: '/deployer/v:9' })));
    const history = await aws.ssm.send(new GetParameterHistoryCommand({ Name: '/deployer/v' }));

    expect(first.Parameter).toMatchObject({ Value: 'one', Version: 1, Selector: ':1' });
    expect(missing).toBeInstanceOf(ParameterVersionNotFound);
    expect(history.Parameters?.map((p) => [p.Version, p.Value])).toEqual([
      [1, 'one'],
      [2, 'two'],
    ]);
  });

  it('selects a SecureString version by name:version, answering the plain name and the selector', async () => {
    await put('/app/web/db-password', 'first-secret', { Type: 'SecureString' });
    await put('/app/web/db-password', 'second-secret', { Type: 'SecureString', Overwrite: true });

    const current = await aws.ssm.send(
      new GetParameterCommand({ Name: '/app/web/db-password', WithDecryption: false }),
    );
    const pinned = await aws.ssm.send(
      new GetParameterCommand({ Name: '/app/web/db-password:1', WithDecryption: true }),
    );
    const sealed = await aws.ssm.send(new GetParameterCommand({ Name: '/app/web/db-password:1' }));
    const noVersion = await caught(() =>
      aws.ssm.send(new GetParameterCommand({ Name: '/app/web/db-password:3', WithDecryption: true })),
    );
    const noParameter = await caught(() =>
      aws.ssm.send(new GetParameterCommand({ Name: '/app/web/other:1', WithDecryption: true })),
    );

    expect(current.Parameter).toMatchObject({
      Name: '/app/web/db-password',
      Type: 'SecureString',
      Version: 2,
    });
    expect(current.Parameter?.Value).not.toBe('second-secret');
    expect(current.Parameter?.Selector).toBeUndefined();
    expect(pinned.Parameter).toMatchObject({
      Name: '/app/web/db-password',
      Selector: ':1',
      Type: 'SecureString',
      Value: 'first-secret',
      Version: 1,
      ARN: 'arn:aws:ssm:us-east-1:000000000000:parameter/app/web/db-password',
    });
    expect(sealed.Parameter?.Value).not.toBe('first-secret');
    expect(noVersion).toBeInstanceOf(ParameterVersionNotFound);
    expect(noVersion.message).toBe(
      'Systems Manager could not find version 3 of /app/web/db-password. Verify the version and try again.',
    );
    expect(noParameter).toBeInstanceOf(ParameterNotFound);
  });
});

describe('GetParameters and DeleteParameter', () => {
  it('answers found and missing names apart', async () => {
    await put('/deployer/a', '1');
    await put('/deployer/b', '2');

    const result = await aws.ssm.send(
      new GetParametersCommand({ Names: ['/deployer/a', '/deployer/zz', '/deployer/b'] }),
    );

    expect(result.Parameters?.map((p) => p.Name)).toEqual(['/deployer/a', '/deployer/b']);
    expect(result.InvalidParameters).toEqual(['/deployer/zz']);
  });

  it('deletes, then says ParameterNotFound', async () => {
    await put('/deployer/locks/web', 'exec-1');

    await aws.ssm.send(new DeleteParameterCommand({ Name: '/deployer/locks/web' }));
    const again = await caught(() =>
      aws.ssm.send(new DeleteParameterCommand({ Name: '/deployer/locks/web' })),
    );
    const read = await caught(() => aws.ssm.send(new GetParameterCommand({ Name: '/deployer/locks/web' })));
    const batch = await aws.ssm.send(new DeleteParametersCommand({ Names: ['/deployer/locks/web'] }));

    expect(again).toBeInstanceOf(ParameterNotFound);
    expect(read).toBeInstanceOf(ParameterNotFound);
    expect(read.message).toBe('Parameter /deployer/locks/web not found.');
    expect(batch).toMatchObject({ DeletedParameters: [], InvalidParameters: ['/deployer/locks/web'] });
    expect(standIn.parameters.get('/deployer/locks/web')).toBeUndefined();
  });

  it('lets a lock be taken again once released', async () => {
    await put('/deployer/locks/web', 'exec-1');
    await aws.ssm.send(new DeleteParameterCommand({ Name: '/deployer/locks/web' }));

    const retaken = await put('/deployer/locks/web', 'exec-2');

    expect(retaken.Version).toBe(1);
  });
});

describe('GetParametersByPath', () => {
  beforeEach(async () => {
    for (const name of [
      '/deployer/clusters/eu-1',
      '/deployer/clusters/eu-2',
      '/deployer/clusters/us-1',
      '/deployer/services/web',
      '/deployer/services/api',
      '/deployer/services/web/extra',
      '/deployer/top',
      '/other/thing',
    ]) {
      await put(name, `value of ${name}`);
    }
  });

  it('pages through a subtree with the SDK paginator', async () => {
    const pages: string[][] = [];
    for await (const page of paginateGetParametersByPath(
      { client: aws.ssm, pageSize: 3 },
      { Path: '/deployer', Recursive: true },
    )) {
      pages.push((page.Parameters ?? []).map((p) => p.Name ?? ''));
    }

    expect(pages.map((page) => page.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toEqual([
      '/deployer/clusters/eu-1',
      '/deployer/clusters/eu-2',
      '/deployer/clusters/us-1',
      '/deployer/services/api',
      '/deployer/services/web',
      '/deployer/services/web/extra',
      '/deployer/top',
    ]);
  });

  it('lists direct children only without Recursive', async () => {
    const top = await aws.ssm.send(new GetParametersByPathCommand({ Path: '/deployer' }));
    const services = await aws.ssm.send(new GetParametersByPathCommand({ Path: '/deployer/services/' }));
    const root = await aws.ssm.send(
      new GetParametersByPathCommand({ Path: '/', Recursive: true, MaxResults: 10 }),
    );

    expect(top.Parameters?.map((p) => p.Name)).toEqual(['/deployer/top']);
    expect(top.NextToken).toBeUndefined();
    expect(services.Parameters?.map((p) => p.Name)).toEqual([
      '/deployer/services/api',
      '/deployer/services/web',
    ]);
    expect(root.Parameters).toHaveLength(8);
    expect(root.Parameters?.[0]).toMatchObject({
      Version: 1,
      DataType: 'text',
      LastModifiedDate: expect.any(Date),
    });
  });

  it('validates the path, the page size and the token', async () => {
    const badPath = await caught(() => aws.ssm.send(new GetParametersByPathCommand({ Path: 'deployer' })));
    const tooMany = await caught(() =>
      aws.ssm.send(new GetParametersByPathCommand({ Path: '/deployer', MaxResults: 11 })),
    );
    const badToken = await caught(() =>
      aws.ssm.send(new GetParametersByPathCommand({ Path: '/deployer', NextToken: 'not-a-token' })),
    );

    expect(badPath.name).toBe('ValidationException');
    expect(badPath.message).toMatch(/^The parameter doesn't meet the parameter name requirements/);
    expect(tooMany.message).toBe(
      "1 validation error detected: Value '11' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10",
    );
    expect(badToken).toBeInstanceOf(InvalidNextToken);
  });

  it('describes parameters with filters', async () => {
    const described = await aws.ssm.send(
      new DescribeParametersCommand({
        ParameterFilters: [{ Key: 'Path', Option: 'OneLevel', Values: ['/deployer/clusters'] }],
      }),
    );
    const byName = await aws.ssm.send(
      new DescribeParametersCommand({
        ParameterFilters: [{ Key: 'Name', Option: 'BeginsWith', Values: ['/other'] }],
      }),
    );

    expect(described.Parameters?.map((p) => p.Name)).toEqual([
      '/deployer/clusters/eu-1',
      '/deployer/clusters/eu-2',
      '/deployer/clusters/us-1',
    ]);
    expect(byName.Parameters).toEqual([
      expect.objectContaining({ Name: '/other/thing', Type: 'String', Version: 1, Tier: 'Standard' }),
    ]);
  });

  it('finds exactly one parameter by Name Equals, as metadata with its Version and never a value', async () => {
    await put('/shop/db-password', 'first-S3CRET', { Type: 'SecureString' });
    await put('/shop/db-password', 'second-S3CRET', { Type: 'SecureString', Overwrite: true });
    await put('/shop/db-password-old', 'old');
    await put('/shop/db-password/old', 'older');
    const byName = (name: string) =>
      aws.ssm.send(
        new DescribeParametersCommand({
          ParameterFilters: [{ Key: 'Name', Option: 'Equals', Values: [name] }],
        }),
      );

    const found = await byName('/shop/db-password');
    // SSM's Name filter treats the leading slash as optional.
    const withoutSlash = await byName('shop/db-password');
    const missing = await byName('/shop/missing');
    const noOption = await aws.ssm.send(
      new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Name', Values: ['/shop/db-password'] }] }),
    );

    expect(found.Parameters).toEqual([
      {
        Name: '/shop/db-password',
        ARN: 'arn:aws:ssm:us-east-1:000000000000:parameter/shop/db-password',
        Type: 'SecureString',
        KeyId: 'alias/aws/ssm',
        LastModifiedDate: expect.any(Date),
        LastModifiedUser: 'arn:aws:iam::000000000000:user/AKIASTANDINTEST',
        Version: 2,
        Tier: 'Standard',
        Policies: [],
        DataType: 'text',
      },
    ]);
    expect(found.NextToken).toBeUndefined();
    expect(JSON.stringify(found)).not.toContain('S3CRET');
    expect(withoutSlash.Parameters?.map((p) => p.Name)).toEqual(['/shop/db-password']);
    expect(noOption.Parameters?.map((p) => p.Name)).toEqual(['/shop/db-password']);
    expect(missing.Parameters).toEqual([]);
    expect(missing.NextToken).toBeUndefined();
  });

  it('validates parameter filters with SSM’s error codes and messages', async () => {
    const describe = (input: DescribeParametersCommandInput) =>
      caught(() => aws.ssm.send(new DescribeParametersCommand(input)));

    const badOption = await describe({ ParameterFilters: [{ Key: 'Name', Option: 'Like', Values: ['/a'] }] });
    const noValues = await describe({ ParameterFilters: [{ Key: 'Name', Option: 'Equals' }] });
    const twice = await describe({
      ParameterFilters: [
        { Key: 'Name', Values: ['/a'] },
        { Key: 'Name', Values: ['/b'] },
      ],
    });
    const label = await describe({ ParameterFilters: [{ Key: 'Label', Values: ['prod'] }] });
    const badKey = await describe({ ParameterFilters: [{ Key: 'Nom', Values: ['/a'] }] });
    const tooLong = await describe({
      ParameterFilters: [{ Key: 'Name', Option: 'BeginsWithX', Values: ['x'.repeat(1025)] }],
    });
    const both = await describe({
      ParameterFilters: [{ Key: 'Name', Values: ['/a'] }],
      Filters: [{ Key: 'Name', Values: ['/a'] }],
    });
    const pathOption = await describe({
      ParameterFilters: [{ Key: 'Path', Option: 'Equals', Values: ['/a'] }],
    });

    expect(badOption).toBeInstanceOf(InvalidFilterOption);
    expect(badOption.message).toBe(
      'The following filter option is not valid: Like. Valid options include: [BeginsWith, Equals].',
    );
    expect(noValues).toBeInstanceOf(InvalidFilterValue);
    expect(noValues.message).toBe('The following filter values are missing : null for filter key Name.');
    expect(twice).toBeInstanceOf(InvalidFilterKey);
    expect(twice.message).toBe(
      'The following filter is duplicated in the request: Name. A request can contain only one occurrence of a specific filter.',
    );
    expect(label).toBeInstanceOf(InvalidFilterKey);
    expect(label.message).toBe(
      'The following filter key is not valid: Label. Valid filter keys include: [Path, Name, Type, KeyId, Tier].',
    );
    expect(badKey.name).toBe('ValidationException');
    expect(badKey.message).toBe(
      "1 validation error detected: Value 'Nom' at 'parameterFilters.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: tag:.+|Name|Type|KeyId|Path|Label|Tier|DataType",
    );
    expect(tooLong.name).toBe('ValidationException');
    expect(tooLong.message).toMatch(/^2 validation errors detected: /);
    expect(tooLong.message).toContain(
      "at 'parameterFilters.1.member.option' failed to satisfy constraint: Member must have length less than or equal to 10",
    );
    expect(tooLong.message).toContain(
      "at 'parameterFilters.1.member.values' failed to satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1]",
    );
    expect(both.name).toBe('ValidationException');
    expect(both.message).toBe('You can use either Filters or ParameterFilters in a single request.');
    expect(pathOption).toBeInstanceOf(InvalidFilterOption);
    expect(pathOption.message).toBe(
      'The following filter option is not valid: Equals. Valid options include: [Recursive, OneLevel].',
    );
  });

  it('serves the content reader: the version from DescribeParameters, the content at that version', async () => {
    await put('/shop/db-password', 'first', { Type: 'SecureString' });
    await put('/shop/db-password', 'second', { Type: 'SecureString', Overwrite: true });
    const content = awsContentReader({
      ssm: aws.ssm,
      secretsManager: () => {
        throw new Error('no Secrets Manager here');
      },
    });

    const version = await content.versionOf({ parameter: '/shop/db-password' });
    const first = await content.read({ parameter: '/shop/db-password', version: '1' });
    const missing = await caught(() => content.versionOf({ parameter: '/shop/missing' }));

    expect(version).toBe('2');
    expect(first.toString('utf8')).toBe('first');
    expect(missing).toMatchObject({
      name: 'SecretNotFoundError',
      message: 'parameter /shop/missing does not exist',
    });
  });
});
