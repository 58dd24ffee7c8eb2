import { describe, expect, it } from 'vitest';
import { InvalidEventPatternError, matchesPattern } from '../../../local/runtime/eventbridge/index.js';

/** The rule the infrastructure deploys for the deployer (reference: ECR events and EventBridge). */
const DEPLOYER_RULE = {
  source: ['aws.ecr'],
  'detail-type': ['ECR Image Action'],
  detail: { 'action-type': ['PUSH'], result: ['SUCCESS'], 'repository-name': ['demo'] },
};

const ecrEvent = (detail: Record<string, unknown>, overrides: Record<string, unknown> = {}) => ({
  version: '0',
  id: '13cde686-328b-6117-af20-0e5566167482',
  'detail-type': 'ECR Image Action',
  source: 'aws.ecr',
  account: '123456789012',
  time: '2019-11-16T01:54:34Z',
  region: 'us-west-2',
  resources: [],
  detail: {
    result: 'SUCCESS',
    'repository-name': 'demo',
    'image-digest': 'sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234',
    'action-type': 'PUSH',
    'image-tag': 'v1.2.3',
    ...detail,
  },
  ...overrides,
});

describe("the deployer's ECR rule", () => {
  it.each([
    ['a successful push to demo', ecrEvent({}), true],
    ['a push by digest (no image-tag)', ecrEvent({ 'image-tag': undefined }), true],
    ['a delete', ecrEvent({ 'action-type': 'DELETE' }), false],
    ['a failed push', ecrEvent({ result: 'FAILURE' }), false],
    ['another repository', ecrEvent({ 'repository-name': 'demo-2' }), false],
    ['a repository name differing in case', ecrEvent({ 'repository-name': 'Demo' }), false],
    ['a scan event', ecrEvent({}, { 'detail-type': 'ECR Image Scan' }), false],
    ['a custom source', ecrEvent({}, { source: 'custom.ecr' }), false],
    ['no detail at all', { source: 'aws.ecr', 'detail-type': 'ECR Image Action' }, false],
  ])('%s → %s', (_what, event, expected) => {
    expect(matchesPattern(DEPLOYER_RULE, event)).toBe(expected);
    expect(matchesPattern(JSON.stringify(DEPLOYER_RULE), event)).toBe(expected);
  });
});

const event = {
  source: 'app.orders',
  detail: {
    state: 'running',
    'c-count': 5,
    price: 100.5,
    flag: true,
    none: null,
    ip: '10.0.1.17',
    file: 'logs/app/error.log',
    tags: ['canary', 'eu'],
    counts: [1, 12],
    items: [
      { sku: 'A', qty: 1 },
      { sku: 'B', qty: 7 },
    ],
    nested: { deeper: { key: 'Value' } },
    empty: '',
  },
};

describe('content filtering', () => {
  it.each([
    // exact values; arrays are OR; types are strict; numbers compare numerically
    ['exact string', { detail: { state: ['running'] } }, true],
    ['one of several', { detail: { state: ['stopped', 'running'] } }, true],
    ['no value matches', { detail: { state: ['stopped'] } }, false],
    ['number', { detail: { 'c-count': [5] } }, true],
    ['number in another notation', { detail: { price: [1.005e2] } }, true],
    ['number pattern vs string value', { detail: { state: [5] } }, false],
    ['string pattern vs number value', { detail: { 'c-count': ['5'] } }, false],
    ['boolean', { detail: { flag: [true] } }, true],
    ['null', { detail: { none: [null] } }, true],
    ['null does not match a missing field', { detail: { missing: [null] } }, false],
    ['empty string', { detail: { empty: [''] } }, true],
    ['event array: any element', { detail: { tags: ['eu'] } }, true],
    ['event array: none', { detail: { tags: ['us'] } }, false],
    ['nested objects', { detail: { nested: { deeper: { key: ['Value'] } } } }, true],
    ['a leaf pattern on an object', { detail: { nested: ['Value'] } }, false],
    ['every field must match (AND)', { source: ['app.orders'], detail: { state: ['stopped'] } }, false],
    // prefix / suffix, and their case-insensitive forms
    ['prefix', { detail: { state: [{ prefix: 'run' }] } }, true],
    ['prefix miss', { detail: { state: [{ prefix: 'Run' }] } }, false],
    ['prefix ignoring case', { detail: { state: [{ prefix: { 'equals-ignore-case': 'RUN' } }] } }, true],
    ['suffix', { detail: { file: [{ suffix: '.log' }] } }, true],
    ['suffix ignoring case', { detail: { file: [{ suffix: { 'equals-ignore-case': '.LOG' } }] } }, true],
    ['prefix on a number', { detail: { 'c-count': [{ prefix: '5' }] } }, false],
    // anything-but
    ['anything-but value', { detail: { state: [{ 'anything-but': 'stopped' }] } }, true],
    ['anything-but the value', { detail: { state: [{ 'anything-but': 'running' }] } }, false],
    ['anything-but list', { detail: { state: [{ 'anything-but': ['stopped', 'running'] }] } }, false],
    ['anything-but number', { detail: { 'c-count': [{ 'anything-but': [1, 2] }] } }, true],
    ['anything-but prefix', { detail: { state: [{ 'anything-but': { prefix: 'stop' } }] } }, true],
    ['anything-but prefix hit', { detail: { state: [{ 'anything-but': { prefix: 'run' } }] } }, false],
    ['anything-but suffix', { detail: { file: [{ 'anything-but': { suffix: '.txt' } }] } }, true],
    [
      'anything-but ignoring case',
      { detail: { state: [{ 'anything-but': { 'equals-ignore-case': ['RUNNING'] } }] } },
      false,
    ],
    ['anything-but needs the field', { detail: { missing: [{ 'anything-but': 'x' }] } }, false],
    // exists
    ['exists true', { detail: { state: [{ exists: true }] } }, true],
    ['exists true on null', { detail: { none: [{ exists: true }] } }, true],
    ['exists false on a present field', { detail: { state: [{ exists: false }] } }, false],
    ['exists false on a missing field', { detail: { missing: [{ exists: false }] } }, true],
    ['exists false below a missing object', { detail: { gone: { key: [{ exists: false }] } } }, true],
    ['exists true on an object (not a leaf)', { detail: { nested: [{ exists: true }] } }, false],
    // numeric
    ['numeric range', { detail: { price: [{ numeric: ['>', 100, '<=', 200] }] } }, true],
    ['numeric equals', { detail: { 'c-count': [{ numeric: ['=', 5] }] } }, true],
    ['numeric miss', { detail: { 'c-count': [{ numeric: ['<', 5] }] } }, false],
    ['numeric on an array', { detail: { counts: [{ numeric: ['>=', 10] }] } }, true],
    ['numeric on a string', { detail: { state: [{ numeric: ['>', 0] }] } }, false],
    // equals-ignore-case, wildcard, cidr
    ['equals-ignore-case', { detail: { state: [{ 'equals-ignore-case': 'RUNNING' }] } }, true],
    ['wildcard', { detail: { file: [{ wildcard: 'logs/*/error.*' }] } }, true],
    ['wildcard miss', { detail: { file: [{ wildcard: 'logs/*/debug.*' }] } }, false],
    ['wildcard whole value', { detail: { file: [{ wildcard: 'logs/app' }] } }, false],
    ['cidr', { detail: { ip: [{ cidr: '10.0.0.0/16' }] } }, true],
    ['cidr miss', { detail: { ip: [{ cidr: '10.1.0.0/16' }] } }, false],
    // arrays of objects are matched element by element
    ['object array element', { detail: { items: { sku: ['B'], qty: [7] } } }, true],
    ['fields of different elements do not combine', { detail: { items: { sku: ['A'], qty: [7] } } }, false],
    // $or
    ['$or first', { detail: { $or: [{ state: ['running'] }, { 'c-count': [9] }] } }, true],
    ['$or second', { detail: { $or: [{ state: ['stopped'] }, { 'c-count': [5] }] } }, true],
    ['$or none', { detail: { $or: [{ state: ['stopped'] }, { 'c-count': [9] }] } }, false],
    [
      '$or with a sibling field',
      { source: ['other'], $or: [{ detail: { state: ['running'] } }, { detail: { flag: [true] } }] },
      false,
    ],
    ['an OR of matcher kinds in one list', { detail: { state: [{ prefix: 'stop' }, 'running'] } }, true],
  ])('%s', (_what, pattern, expected) => {
    expect(matchesPattern(pattern, event)).toBe(expected);
  });

  it.each([
    ['a bare value', { source: 'aws.ecr' }],
    ['an empty pattern', {}],
    ['an empty list', { source: [] }],
    ['an unknown operator', { source: [{ 'starts-with': 'aws' }] }],
    ['a numeric without a value', { detail: { n: [{ numeric: ['>'] }] } }],
    ['exists with a string', { detail: { n: [{ exists: 'yes' }] } }],
    ['$or with one alternative', { $or: [{ source: ['a'] }] }],
    ['not JSON', '{"source": ['],
  ])('rejects %s', (_what, pattern) => {
    expect(() => matchesPattern(pattern as never, event)).toThrow(InvalidEventPatternError);
  });
});
