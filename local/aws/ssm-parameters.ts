import { createCipheriv, randomBytes } from 'node:crypto';
import { AwsJsonError, type AwsJsonRouter } from '../ssm/aws-json.js';
import { decodeToken, encodeToken, epochSeconds, Members } from './wire.js';

/**
 * SSM Parameter Store for the AWS stand-in: GetParameter, GetParameters, GetParametersByPath,
 * GetParameterHistory, PutParameter, DeleteParameter, DeleteParameters and DescribeParameters
 * in AWS JSON 1.1, with the response shapes and error codes of the SSM API reference.
 * PutParameter without Overwrite is an atomic create: the check and the insert run in one turn
 * of the event loop, so of concurrent creates of one name exactly one wins and the others get
 * ParameterAlreadyExists (the deployer's lock relies on it).
 */

export type ParameterType = 'String' | 'StringList' | 'SecureString';
export type ParameterTier = 'Standard' | 'Advanced';

/** One version of a parameter, as stored (values in plain text). */
export interface StoredParameter {
  readonly name: string;
  readonly type: ParameterType;
  readonly value: string;
  readonly version: number;
  readonly lastModifiedDate: Date;
  readonly lastModifiedUser: string;
  readonly arn: string;
  readonly dataType: string;
  readonly tier: ParameterTier;
  readonly description?: string;
  readonly allowedPattern?: string;
  readonly keyId?: string;
}

export interface PutParameterInput {
  name: string;
  value: string;
  /** Required to create a parameter; an overwrite keeps the type when it is omitted. */
  type?: ParameterType;
  overwrite?: boolean;
  description?: string;
  allowedPattern?: string;
  keyId?: string;
  tier?: ParameterTier | 'Intelligent-Tiering';
  dataType?: string;
  /**
   * Who made the change (LastModifiedUser): the verified caller's ARN, or a user name (the access
   * key id through the API when IAM is off).
   */
  user?: string;
}

const PARAMETER_TYPES = ['String', 'StringList', 'SecureString'] as const;
const TIERS = ['Standard', 'Advanced', 'Intelligent-Tiering'] as const;
const DATA_TYPES = ['text', 'aws:ec2:image', 'aws:ssm:integration'];
const MAX_VALUE_BYTES: Record<ParameterTier, number> = { Standard: 4096, Advanced: 8192 };
/** SSM keeps the last 100 versions of a parameter. */
const HISTORY_LIMIT = 100;
const MAX_HIERARCHY_LEVELS = 15;
const DEFAULT_KEY_ID = 'alias/aws/ssm';

const NAME_MESSAGE =
  'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive). If formed as a path, it can ' +
  'consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers ' +
  'and the following 3 symbols .-_';
const PATH_MESSAGE =
  "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward " +
  'slash "/". It can\'t be prefixed with "aws" or "ssm" (case-insensitive). It must use only letters, numbers, ' +
  'or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All ' +
  'sub-paths, if specified, must use the forward slash symbol "/". Valid example: /get/parameters2-/by1./path0_.';

/** The parameters of one account and region, with their history. */
export class ParameterStore {
  readonly region: string;
  readonly accountId: string;
  private readonly versions = new Map<string, StoredParameter[]>();
  /** Ciphertexts for SecureString values read without decryption: opaque, like a KMS blob. */
  private readonly key = randomBytes(32);

  constructor(options: { region?: string; accountId?: string } = {}) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '000000000000';
  }

  /** The latest version of a parameter. */
  get(name: string): StoredParameter | undefined {
    return this.versions.get(name)?.at(-1);
  }

  /** The latest version of every parameter, by name. */
  list(): StoredParameter[] {
    return [...this.versions.keys()].sort().map((name) => this.get(name) as StoredParameter);
  }

  /** Every kept version of a parameter, oldest first. */
  history(name: string): StoredParameter[] {
    return [...(this.versions.get(name) ?? [])];
  }

  arnOf(name: string): string {
    return `arn:aws:ssm:${this.region}:${this.accountId}:parameter${name.startsWith('/') ? '' : '/'}${name}`;
  }

  /**
   * Creates a parameter, or a new version of it with `overwrite`.
   * @throws AwsJsonError ValidationException, ParameterAlreadyExists, ParameterPatternMismatchException,
   *   HierarchyLevelLimitExceededException
   */
  put(input: PutParameterInput): { version: number; tier: ParameterTier } {
    checkName(input.name);
    const existing = this.get(input.name);
    if (existing !== undefined && !input.overwrite) {
      throw new AwsJsonError(
        'ParameterAlreadyExists',
        'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
      );
    }
    const type = input.type ?? existing?.type;
    if (type === undefined) {
      throw new AwsJsonError(
        'ValidationException',
        'A parameter type is required when you create a parameter.',
      );
    }
    if (input.keyId !== undefined && type !== 'SecureString') {
      throw new AwsJsonError(
        'ValidationException',
        'KeyId is required for SecureString type parameter only.',
      );
    }
    const dataType = input.dataType ?? existing?.dataType ?? 'text';
    if (!DATA_TYPES.includes(dataType)) {
      throw new AwsJsonError(
        'ValidationException',
        `The following data type is not supported: ${dataType} (Data type names are all lowercase.)`,
      );
    }
    const allowedPattern = input.allowedPattern ?? existing?.allowedPattern;
    if (allowedPattern !== undefined && !matchesPattern(allowedPattern, input.value)) {
      throw new AwsJsonError(
        'ParameterPatternMismatchException',
        `Parameter value, cannot be validated against allowedPattern: ${allowedPattern}`,
      );
    }
    const bytes = Buffer.byteLength(input.value);
    let tier: ParameterTier;
    if (input.tier === 'Intelligent-Tiering') {
      tier = bytes > MAX_VALUE_BYTES.Standard || existing?.tier === 'Advanced' ? 'Advanced' : 'Standard';
    } else {
      tier = input.tier ?? existing?.tier ?? 'Standard';
    }
    if (existing?.tier === 'Advanced' && tier === 'Standard') {
      throw new AwsJsonError(
        'ValidationException',
        "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the " +
          'advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced ' +
          'parameter and recreate it as a standard parameter.',
      );
    }
    if (tier === 'Standard' && bytes > MAX_VALUE_BYTES.Standard) {
      throw new AwsJsonError(
        'ValidationException',
        'Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger ' +
          'parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see ' +
          'https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html',
      );
    }
    if (bytes > MAX_VALUE_BYTES.Advanced) {
      throw new AwsJsonError(
        'ValidationException',
        "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to 8192",
      );
    }
    const description = input.description ?? existing?.description;
    const keyId = type === 'SecureString' ? (input.keyId ?? existing?.keyId ?? DEFAULT_KEY_ID) : undefined;
    const parameter: StoredParameter = {
      name: input.name,
      type,
      value: input.value,
      version: (existing?.version ?? 0) + 1,
      lastModifiedDate: new Date(),
      lastModifiedUser: input.user?.startsWith('arn:')
        ? input.user
        : `arn:aws:iam::${this.accountId}:user/${input.user ?? 'stand-in'}`,
      arn: this.arnOf(input.name),
      dataType,
      tier,
      ...(description === undefined ? {} : { description }),
      ...(allowedPattern === undefined ? {} : { allowedPattern }),
      ...(keyId === undefined ? {} : { keyId }),
    };
    const versions = this.versions.get(input.name) ?? [];
    versions.push(parameter);
    if (versions.length > HISTORY_LIMIT) versions.shift();
    this.versions.set(input.name, versions);
    return { version: parameter.version, tier };
  }

  /** Deletes a parameter and its history. @returns false when there was none. */
  delete(name: string): boolean {
    return this.versions.delete(name);
  }

  clear(): void {
    this.versions.clear();
  }

  /** The parameter as the API returns it (GetParameter and friends). */
  toWire(parameter: StoredParameter, withDecryption: boolean, selector?: string): Record<string, unknown> {
    return {
      Name: parameter.name,
      Type: parameter.type,
      Value: this.shownValue(parameter, withDecryption),
      Version: parameter.version,
      ...(selector === undefined ? {} : { Selector: selector }),
      LastModifiedDate: epochSeconds(parameter.lastModifiedDate),
      ARN: parameter.arn,
      DataType: parameter.dataType,
    };
  }

  shownValue(parameter: StoredParameter, withDecryption: boolean): string {
    if (parameter.type !== 'SecureString' || withDecryption) return parameter.value;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const sealed = Buffer.concat([cipher.update(parameter.value, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([1, 2, 2, 0]), iv, cipher.getAuthTag(), sealed]).toString('base64');
  }
}

/** @throws AwsJsonError ValidationException, HierarchyLevelLimitExceededException */
export function checkName(name: string): void {
  if (name === '') throw new AwsJsonError('ValidationException', 'Parameter name must not be empty.');
  if (name.length > 2048) {
    throw new AwsJsonError(
      'ValidationException',
      "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length less than or equal to 2048",
    );
  }
  if (name.includes('/') && !name.startsWith('/')) {
    throw new AwsJsonError('ValidationException', 'Parameter name must be a fully qualified name.');
  }
  const first = (name.startsWith('/') ? name.slice(1) : name).toLowerCase();
  if (first.startsWith('aws') || first.startsWith('ssm') || !/^(?:(?:\/[\w.-]+)+|[\w.-]+)$/.test(name)) {
    throw new AwsJsonError('ValidationException', NAME_MESSAGE);
  }
  if (name.split('/').length - 1 > MAX_HIERARCHY_LEVELS) {
    throw new AwsJsonError(
      'HierarchyLevelLimitExceededException',
      `A hierarchy can have a maximum of ${MAX_HIERARCHY_LEVELS} levels. For more information, see ` +
        'https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html',
    );
  }
}

function matchesPattern(pattern: string, value: string): boolean {
  let regex: RegExp;
  try {
    regex = new RegExp(pattern, 'u');
  } catch {
    throw new AwsJsonError(
      'ValidationException',
      `Parameter AllowedPattern is not a valid regular expression: ${pattern}`,
    );
  }
  return regex.test(value);
}

/** A Name member: a name or an ARN, with an optional `:version` or `:label` selector. */
export function parseReference(
  store: ParameterStore,
  reference: string,
): { name: string; selector?: string } {
  let text = reference;
  let fromArn = false;
  if (text.startsWith('arn:')) {
    const at = text.indexOf(':parameter');
    if (at < 0) throw new AwsJsonError('ValidationException', `Invalid parameter ARN: ${reference}`);
    text = text.slice(at + ':parameter'.length);
    fromArn = true;
  }
  const colon = text.lastIndexOf(':');
  let name = colon > 0 ? text.slice(0, colon) : text;
  // The ARN of a name without a slash is parameter/<name>: that slash is not part of the name.
  if (fromArn && !name.slice(1).includes('/') && store.get(name) === undefined) name = name.slice(1);
  return colon > 0 ? { name, selector: text.slice(colon) } : { name };
}

/**
 * The version a reference asks for.
 * @throws AwsJsonError ParameterNotFound, ParameterVersionNotFound, ParameterVersionLabelNotFound
 */
function resolve(
  store: ParameterStore,
  reference: string,
): { parameter: StoredParameter; selector?: string } {
  const { name, selector } = parseReference(store, reference);
  checkName(name);
  const latest = store.get(name);
  if (latest === undefined) throw new AwsJsonError('ParameterNotFound', `Parameter ${name} not found.`);
  if (selector === undefined) return { parameter: latest };
  const label = selector.slice(1);
  if (/^\d+$/.test(label)) {
    const parameter = store.history(name).find((version) => version.version === Number(label));
    if (parameter === undefined) {
      throw new AwsJsonError(
        'ParameterVersionNotFound',
        `Systems Manager could not find version ${label} of ${name}. Verify the version and try again.`,
      );
    }
    return { parameter, selector };
  }
  // The stand-in keeps no labels (LabelParameterVersion is not served).
  throw new AwsJsonError(
    'ParameterVersionLabelNotFound',
    `Systems Manager could not find label ${label} for parameter ${name}.`,
  );
}

/** Parameters under a path: direct children only, or the whole subtree with `recursive`. */
export function underPath(store: ParameterStore, path: string, recursive: boolean): StoredParameter[] {
  const prefix = path.endsWith('/') ? path : `${path}/`;
  return store.list().filter((parameter) => {
    if (!parameter.name.startsWith(prefix)) return false;
    return recursive || !parameter.name.slice(prefix.length).includes('/');
  });
}

function checkPath(path: string): void {
  const first = path.slice(1).toLowerCase();
  if (
    !/^\/$|^(?:\/[\w.-]+)+\/?$/.test(path) ||
    first.startsWith('aws') ||
    first.startsWith('ssm') ||
    path.replace(/\/$/, '').split('/').length - 1 > MAX_HIERARCHY_LEVELS
  ) {
    throw new AwsJsonError('ValidationException', PATH_MESSAGE);
  }
}

interface Filter {
  key: string;
  /** As sent; absent: OneLevel for Path, Equals for the others. */
  option: string;
  values: string[];
}

/** ParameterStringFilter.Key (SSM API reference): 1-132 characters of this pattern. */
const FILTER_KEY_PATTERN = 'tag:.+|Name|Type|KeyId|Path|Label|Tier|DataType';
const FILTER_KEY = new RegExp(`^(?:${FILTER_KEY_PATTERN})$`);
/** The deprecated ParametersFilter.Key of DescribeParameters' Filters member. */
const LEGACY_FILTER_KEYS = ['Name', 'Type', 'KeyId'] as const;

/**
 * The ParameterStringFilter list `member` (or, with `legacy`, DescribeParameters' deprecated
 * Filters), its members checked as AWS's request validation does: a violation is recorded on
 * `members` (`parameterFilters.1.member.key`) and `members.done()` reports them all.
 */
function readFilters(members: Members, member: string, options: { legacy?: boolean } = {}): Filter[] {
  const list = members.list(member, { max: 50 }) ?? [];
  return list.map((item, index) => {
    const filter = (item ?? {}) as { Key?: unknown; Option?: unknown; Values?: unknown };
    const at = `${member}.${index + 1}.member`;
    const key = typeof filter.Key === 'string' ? filter.Key : '';
    if (typeof filter.Key !== 'string') members.violate(`${at}.key`, undefined, 'Member must not be null');
    else if (options.legacy && !(LEGACY_FILTER_KEYS as readonly string[]).includes(key))
      members.violate(
        `${at}.key`,
        key,
        `Member must satisfy enum value set: [${LEGACY_FILTER_KEYS.join(', ')}]`,
      );
    else if (!options.legacy && key.length > 132)
      members.violate(`${at}.key`, key, 'Member must have length less than or equal to 132');
    else if (!options.legacy && !FILTER_KEY.test(key))
      members.violate(
        `${at}.key`,
        key,
        `Member must satisfy regular expression pattern: ${FILTER_KEY_PATTERN}`,
      );
    const option = typeof filter.Option === 'string' && !options.legacy ? filter.Option : undefined;
    if (option !== undefined && (option.length < 1 || option.length > 10)) {
      const bound = option.length < 1 ? 'greater than or equal to 1' : 'less than or equal to 10';
      members.violate(`${at}.option`, option, `Member must have length ${bound}`);
    }
    const values = Array.isArray(filter.Values) ? filter.Values.map(String) : [];
    const shown = `[${values.join(', ')}]`;
    if (values.length > 50)
      members.violate(`${at}.values`, shown, 'Member must have length less than or equal to 50');
    else if (values.some((value) => value.length < 1 || value.length > 1024))
      members.violate(
        `${at}.values`,
        shown,
        '[Member must have length less than or equal to 1024, Member must have length greater than or equal to 1]',
      );
    return { key, option: option ?? (key === 'Path' ? 'OneLevel' : 'Equals'), values };
  });
}

/** A name with one leading slash: SSM's Name filter treats `name` and `/name` alike. */
const rooted = (name: string) => `/${name.replace(/^\/+/, '')}`;

function matchesFilter(parameter: StoredParameter, filter: Filter): boolean {
  if (filter.key === 'Name') {
    const name = rooted(parameter.name);
    if (filter.option === 'Contains') return filter.values.some((part) => name.includes(part));
    const values = filter.values.map(rooted);
    return filter.option === 'BeginsWith'
      ? values.some((prefix) => name.startsWith(prefix))
      : values.includes(name);
  }
  const field: Record<string, string | undefined> = {
    Name: parameter.name,
    Type: parameter.type,
    KeyId: parameter.keyId,
    Tier: parameter.tier,
    DataType: parameter.dataType,
  };
  if (filter.key === 'Path') {
    return filter.values.some((path) => {
      const prefix = path.endsWith('/') ? path : `${path}/`;
      if (!parameter.name.startsWith(prefix)) return false;
      return filter.option === 'Recursive' || !parameter.name.slice(prefix.length).includes('/');
    });
  }
  const value = field[filter.key];
  if (value === undefined) return false;
  switch (filter.option) {
    case 'BeginsWith':
      return filter.values.some((prefix) => value.startsWith(prefix));
    case 'Contains':
      return filter.values.some((part) => value.includes(part));
    default:
      return filter.values.includes(value);
  }
}

/**
 * The filters' keys, values and options, with SSM's error codes and messages: a key the action does
 * not take, a filter without values, a key given twice, an option the key does not take (Path:
 * Recursive or OneLevel; Name also Contains; the others Equals or BeginsWith).
 * @throws AwsJsonError InvalidFilterKey, InvalidFilterValue, InvalidFilterOption
 */
function checkFilters(filters: Filter[], keys: string[]): void {
  const seen = new Set<string>();
  for (const filter of filters) {
    if (!keys.includes(filter.key)) {
      throw new AwsJsonError(
        'InvalidFilterKey',
        `The following filter key is not valid: ${filter.key}. Valid filter keys include: [${keys.join(', ')}].`,
      );
    }
    if (filter.values.length === 0) {
      throw new AwsJsonError(
        'InvalidFilterValue',
        `The following filter values are missing : null for filter key ${filter.key}.`,
      );
    }
    if (seen.has(filter.key)) {
      throw new AwsJsonError(
        'InvalidFilterKey',
        `The following filter is duplicated in the request: ${filter.key}. A request can contain only one ` +
          'occurrence of a specific filter.',
      );
    }
    seen.add(filter.key);
    const valid =
      filter.key === 'Path'
        ? ['Recursive', 'OneLevel']
        : filter.key === 'Name'
          ? ['BeginsWith', 'Equals', 'Contains']
          : ['BeginsWith', 'Equals'];
    if (!valid.includes(filter.option)) {
      const listed = filter.key === 'Path' ? valid : ['BeginsWith', 'Equals'];
      throw new AwsJsonError(
        'InvalidFilterOption',
        `The following filter option is not valid: ${filter.option}. Valid options include: [${listed.join(', ')}].`,
      );
    }
  }
}

/** One page of a sorted list, after the name the token carries. */
function page<T extends { name: string }>(
  items: T[],
  maxResults: number,
  token: string | undefined,
  scope: string,
): { items: T[]; nextToken?: string } {
  let start = 0;
  if (token !== undefined) {
    const decoded = decodeToken(token) as { after?: unknown; scope?: unknown } | undefined;
    if (decoded === undefined || typeof decoded.after !== 'string' || decoded.scope !== scope) {
      throw new AwsJsonError('InvalidNextToken', "The specified token isn't valid.");
    }
    const after = decoded.after;
    start = items.findIndex((item) => item.name > after);
    if (start < 0) start = items.length;
  }
  const chosen = items.slice(start, start + maxResults);
  const last = chosen.at(-1);
  return start + maxResults < items.length && last !== undefined
    ? { items: chosen, nextToken: encodeToken({ after: last.name, scope }) }
    : { items: chosen };
}

/** Registers the Parameter Store actions on the AmazonSSM router. */
export function registerParameterActions(router: AwsJsonRouter, store: ParameterStore): void {
  router.register('GetParameter', (input) => {
    const members = new Members(input);
    const name = members.string('Name', { required: true, min: 1, max: 2048 });
    const withDecryption = members.boolean('WithDecryption') ?? false;
    members.done();
    const { parameter, selector } = resolve(store, name);
    return { Parameter: store.toWire(parameter, withDecryption, selector) };
  });

  router.register('GetParameters', (input) => {
    const members = new Members(input);
    const names = members.list('Names', { required: true, min: 1, max: 10 }) ?? [];
    const withDecryption = members.boolean('WithDecryption') ?? false;
    members.done();
    const found: Record<string, unknown>[] = [];
    const invalid: string[] = [];
    for (const reference of new Set(names.map(String))) {
      try {
        const { parameter, selector } = resolve(store, reference);
        found.push(store.toWire(parameter, withDecryption, selector));
      } catch (error) {
        if (error instanceof AwsJsonError && error.type.startsWith('Parameter')) invalid.push(reference);
        else throw error;
      }
    }
    return { Parameters: found, InvalidParameters: invalid };
  });

  router.register('GetParametersByPath', (input) => {
    const members = new Members(input);
    const path = members.string('Path', { required: true, min: 1, max: 2048 });
    const recursive = members.boolean('Recursive') ?? false;
    const withDecryption = members.boolean('WithDecryption') ?? false;
    const maxResults = members.integer('MaxResults', { min: 1, max: 10 }) ?? 10;
    const nextToken = members.string('NextToken', { max: 1024 });
    const filters = readFilters(members, 'ParameterFilters');
    members.done();
    checkPath(path);
    checkFilters(filters, ['Type', 'KeyId', 'Tier', 'DataType']);
    const matching = underPath(store, path, recursive).filter((parameter) =>
      filters.every((filter) => matchesFilter(parameter, filter)),
    );
    const scope = JSON.stringify([path, recursive, filters]);
    const result = page(matching, maxResults, nextToken, scope);
    return {
      Parameters: result.items.map((parameter) => store.toWire(parameter, withDecryption)),
      ...(result.nextToken === undefined ? {} : { NextToken: result.nextToken }),
    };
  });

  router.register('GetParameterHistory', (input) => {
    const members = new Members(input);
    const name = members.string('Name', { required: true, min: 1, max: 2048 });
    const withDecryption = members.boolean('WithDecryption') ?? false;
    const maxResults = members.integer('MaxResults', { min: 1, max: 50 }) ?? 50;
    const nextToken = members.string('NextToken', { max: 1024 });
    members.done();
    const { name: plain } = parseReference(store, name);
    checkName(plain);
    const versions = store.history(plain);
    if (versions.length === 0) throw new AwsJsonError('ParameterNotFound', `Parameter ${plain} not found.`);
    // Versions sort as zero-padded names so that the shared pager works on them.
    const keyed = versions.map((version) => ({ name: String(version.version).padStart(10, '0'), version }));
    const result = page(keyed, maxResults, nextToken, `history:${plain}`);
    return {
      Parameters: result.items.map(({ version }) => ({
        Name: version.name,
        Type: version.type,
        ...(version.keyId === undefined ? {} : { KeyId: version.keyId }),
        LastModifiedDate: epochSeconds(version.lastModifiedDate),
        LastModifiedUser: version.lastModifiedUser,
        ...(version.description === undefined ? {} : { Description: version.description }),
        Value: store.shownValue(version, withDecryption),
        ...(version.allowedPattern === undefined ? {} : { AllowedPattern: version.allowedPattern }),
        Version: version.version,
        Labels: [],
        Tier: version.tier,
        Policies: [],
        DataType: version.dataType,
      })),
      ...(result.nextToken === undefined ? {} : { NextToken: result.nextToken }),
    };
  });

  router.register('PutParameter', (input, context) => {
    const members = new Members(input);
    const name = members.string('Name', { required: true, min: 1, max: 2048 });
    const value = members.string('Value', { required: true, min: 1, sensitive: true });
    const type = members.enumeration('Type', PARAMETER_TYPES);
    const overwrite = members.boolean('Overwrite') ?? false;
    const description = members.string('Description', { max: 1024 });
    const allowedPattern = members.string('AllowedPattern', { max: 1024 });
    const keyId = members.string('KeyId', { min: 1, max: 256 });
    const tier = members.enumeration('Tier', TIERS);
    const dataType = members.string('DataType', { max: 128 });
    const tags = members.list('Tags', { max: 1000 });
    const policies = members.string('Policies', { min: 1, max: 4096 });
    members.done();
    if (tags !== undefined && tags.length > 0 && overwrite) {
      throw new AwsJsonError(
        'ValidationException',
        "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please " +
          'remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or ' +
          'RemoveTagsFromResource.',
      );
    }
    if (policies !== undefined) {
      throw new AwsJsonError('InvalidPolicyTypeException', 'The stand-in does not serve parameter policies.');
    }
    const result = store.put({
      name,
      value,
      overwrite,
      ...(type === undefined ? {} : { type }),
      ...(description === undefined ? {} : { description }),
      ...(allowedPattern === undefined ? {} : { allowedPattern }),
      ...(keyId === undefined ? {} : { keyId }),
      ...(tier === undefined ? {} : { tier }),
      ...(dataType === undefined ? {} : { dataType }),
      // AWS records the caller's ARN; without verified callers the access key id stands in for it.
      ...(context.caller !== undefined
        ? { user: context.caller.arn }
        : context.accessKeyId === undefined
          ? {}
          : { user: context.accessKeyId }),
    });
    return { Version: result.version, Tier: result.tier };
  });

  router.register('DeleteParameter', (input) => {
    const members = new Members(input);
    const name = members.string('Name', { required: true, min: 1, max: 2048 });
    members.done();
    checkName(name);
    if (!store.delete(name)) throw new AwsJsonError('ParameterNotFound', `Parameter ${name} not found.`);
    return {};
  });

  router.register('DeleteParameters', (input) => {
    const members = new Members(input);
    const names = members.list('Names', { required: true, min: 1, max: 10 }) ?? [];
    members.done();
    const deleted: string[] = [];
    const invalid: string[] = [];
    for (const name of names.map(String)) {
      checkName(name);
      (store.delete(name) ? deleted : invalid).push(name);
    }
    return { DeletedParameters: deleted, InvalidParameters: invalid };
  });

  router.register('DescribeParameters', (input) => {
    const members = new Members(input);
    const maxResults = members.integer('MaxResults', { min: 1, max: 50 }) ?? 50;
    const nextToken = members.string('NextToken', { max: 1024 });
    const filters = readFilters(members, 'ParameterFilters');
    // The deprecated Filters member ({Key: Name|Type|KeyId, Values}) means Equals.
    const legacy = readFilters(members, 'Filters', { legacy: true });
    members.done();
    if (filters.length > 0 && legacy.length > 0) {
      throw new AwsJsonError(
        'ValidationException',
        'You can use either Filters or ParameterFilters in a single request.',
      );
    }
    const all = [...filters, ...legacy];
    if (all.some((filter) => filter.key === 'Label')) {
      throw new AwsJsonError(
        'InvalidFilterKey',
        'The following filter key is not valid: Label. Valid filter keys include: [Path, Name, Type, KeyId, Tier].',
      );
    }
    checkFilters(all, ['Name', 'Type', 'KeyId', 'Path', 'Tier', 'DataType']);
    const matching = store
      .list()
      .filter((parameter) => all.every((filter) => matchesFilter(parameter, filter)));
    const result = page(matching, maxResults, nextToken, JSON.stringify(all));
    return {
      Parameters: result.items.map((parameter) => ({
        Name: parameter.name,
        ARN: parameter.arn,
        Type: parameter.type,
        ...(parameter.keyId === undefined ? {} : { KeyId: parameter.keyId }),
        LastModifiedDate: epochSeconds(parameter.lastModifiedDate),
        LastModifiedUser: parameter.lastModifiedUser,
        ...(parameter.description === undefined ? {} : { Description: parameter.description }),
        ...(parameter.allowedPattern === undefined ? {} : { AllowedPattern: parameter.allowedPattern }),
        Version: parameter.version,
        Tier: parameter.tier,
        Policies: [],
        DataType: parameter.dataType,
      })),
      ...(result.nextToken === undefined ? {} : { NextToken: result.nextToken }),
    };
  });
}
