import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ConfigReferenceError,
  DESCRIPTIONS,
  OUTPUT,
  renderConfigurationReference,
} from '../../../docs/tools/config-reference.js';
import { FUNCTION_PERMISSIONS, HANDLERS } from '../../../infra/permissions.js';

describe('docs/configuration.md', () => {
  const generated = renderConfigurationReference();

  it('is what the generator makes from the schemas today (npm run docs:config)', () => {
    expect(readFileSync(OUTPUT, 'utf8')).toBe(generated);
  });

  it("lists the service policy's canary percent with its bounds, and defaults with theirs", () => {
    const row = (field: string) => generated.split('\n').find((l) => l.startsWith(`| \`${field}\` |`));
    expect(row('canary.percent')).toBe(
      "| `canary.percent` | number | yes |  | > 0; ≤ 100 | The canary's size, as a percentage of the primary's replicas on that cluster (rounded up, at least one task). |",
    );
    expect(row('promotion.approvalTimeoutSeconds')).toMatch(
      /^\| `promotion\.approvalTimeoutSeconds` \| integer \| no \| `3600` \| ≥ 5; ≤ 31536000 \| /,
    );
    expect(row('unreachableSeconds')).toMatch(/\| integer \| no \| `300` \| ≥ 10; ≤ 1800 \|/);
    // A duration's bounds are found by parsing; its default is in seconds.
    expect(row('initialDelay')).toMatch(/\| duration \| no \| `0` \| ≥ 0 s; ≤ 3600 s \|/);
    // The stack's own keys, with the defaults parseStackConfig applies.
    expect(row('logRetentionDays')).toMatch(/\| integer \| no \| `30` \|/);
    expect(row('aws:region')).toMatch(/\| string \| yes \|/);
  });

  it('has an example of each top-level document', () => {
    for (const heading of ['## Cluster', '## Service policy', '## Stack configuration']) {
      const section = generated.slice(generated.indexOf(`\n${heading}\n`) + 1).split('\n## ')[0] as string;
      expect(section, heading).toMatch(/\nExample: .*\n\n```(json|yaml)\n/);
    }
  });

  it('fails, naming the field, when a field has no description, and for a description of no field', () => {
    const { 'policy.canary.percent': _dropped, ...rest } = DESCRIPTIONS;
    expect(() => renderConfigurationReference(rest)).toThrow(ConfigReferenceError);
    expect(() => renderConfigurationReference(rest)).toThrow(
      /no description for field policy\.canary\.percent/,
    );
    expect(() => renderConfigurationReference({ ...DESCRIPTIONS, 'policy.canary.size': 'gone' })).toThrow(
      /a description for policy\.canary\.size, which no schema has/,
    );
  });
});

describe('docs/security.md', () => {
  const text = readFileSync(new URL('../../../docs/security.md', import.meta.url), 'utf8');

  it("lists exactly each function's actions of infra/permissions.ts FUNCTION_PERMISSIONS", () => {
    for (const handler of HANDLERS) {
      const row = text.split('\n').find((l) => l.startsWith(`| \`${handler}\` |`));
      expect(row, `a row for ${handler}`).toBeDefined();
      const listed = new Set((row as string).match(/\b[a-z0-9]+:[A-Z][A-Za-z]+\b/g) ?? []);
      const granted = new Set(FUNCTION_PERMISSIONS[handler].flatMap((g) => g.actions));
      expect([...listed].sort(), handler).toEqual([...granted].sort());
    }
  });
});
