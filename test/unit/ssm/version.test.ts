import { describe, expect, it } from 'vitest';
import { CLIENT_VERSION } from '../../../functions/lib/ssm/tunnel.js';
import { agentCompareVersions, pluginVersionGreaterThan } from '../../../functions/lib/ssm/version.js';

describe('pluginVersionGreaterThan (session-manager-plugin versionutil.go)', () => {
  it.each([
    ['3.0.197.0', '3.0.196.0', true],
    ['3.0.196.0', '3.0.196.0', false],
    ['3.0.1000.0', '3.0.196.0', true],
    ['2.9.999.9', '3.0.196.0', false],
    // Different lengths or non-numbers cannot be compared: "not supported".
    ['3.1', '3.0.196.0', false],
    ['3.0.196.0-beta', '3.0.196.0', false],
    // …but like the Go loop, the first difference decides before a bad component is parsed.
    ['3.1.0.0-beta', '3.0.196.0', true],
    ['', '3.0.196.0', false],
  ])('%s > %s is %s', (version, than, expected) => {
    expect(pluginVersionGreaterThan(version, than)).toBe(expected);
  });
});

describe('agentCompareVersions (amazon-ssm-agent versionutil.Compare, strict)', () => {
  it.each([
    // Four components are not SemVer: component by component, numeric.
    ['1.2.694.0', '1.2.331.0', 1],
    ['1.2.331.0', '1.2.331.0', 0],
    ['1.2.0.0', '1.2.331.0', -1],
    // Against the 3-component 1.1.70 the shorter one loses when the prefix is equal.
    ['1.1.70.0', '1.1.70', 1],
    ['1.2.0.0', '1.1.70', 1],
    ['1.0.0.0', '1.1.70', -1],
    // Both SemVer: SemVer rules.
    ['1.1.70', '1.1.70', 0],
    ['1.1.100', '1.1.70', 1],
    ['1.1.70-rc.1', '1.1.70', -1],
    // Empty and text components compare as text.
    ['', '1.1.70', -1],
    ['1.x.0.0', '1.1.70', 1],
  ])('compare(%s, %s) has the sign %d', (version, other, sign) => {
    expect(Math.sign(agentCompareVersions(version, other))).toBe(sign);
  });

  it('the client version selects mux with the smux keepalive off', () => {
    expect(agentCompareVersions(CLIENT_VERSION, '1.1.70')).toBeGreaterThanOrEqual(0);
    expect(agentCompareVersions(CLIENT_VERSION, '1.2.331.0')).toBeGreaterThan(0);
  });
});
