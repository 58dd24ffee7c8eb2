import { describe, expect, it } from 'vitest';
import { CLIENT_VERSION } from '../../../functions/lib/ssm/tunnel.js';
import {
  agentCompareVersions,
  agentPortSession,
  pluginPortSession,
  pluginVersionGreaterThan,
} from '../../../functions/lib/ssm/version.js';

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

describe('the port session each peer runs', () => {
  it.each([
    // Agents up to 3.0.196.0 predate port_mux.go (first released in 3.0.222.0): basic, whoever asks.
    ['3.0.100.0', CLIENT_VERSION, 'LocalPortForwarding', 'basic'],
    ['3.0.196.0', CLIENT_VERSION, 'LocalPortForwarding', 'basic'],
    ['2.3.722.0', CLIENT_VERSION, 'LocalPortForwarding', 'basic'],
    // Newer agents: port.go GetSession, type and Compare(clientVersion, "1.1.70") >= 0.
    ['3.0.222.0', CLIENT_VERSION, 'LocalPortForwarding', 'mux'],
    ['3.3.1142.0', CLIENT_VERSION, 'LocalPortForwarding', 'mux'],
    ['3.3.1142.0', '1.1.70', 'LocalPortForwarding', 'mux'],
    ['3.3.1142.0', '1.0.0.0', 'LocalPortForwarding', 'basic'],
    ['3.3.1142.0', CLIENT_VERSION, '', 'basic'],
  ])('agent %s with client %s and type %j runs %s', (agentVersion, clientVersion, portType, mode) => {
    expect(agentPortSession(agentVersion, clientVersion, portType)).toBe(mode);
  });

  it.each([
    ['3.0.100.0', 'LocalPortForwarding', 'basic'],
    ['3.0.196.0', 'LocalPortForwarding', 'basic'],
    ['3.0.222.0', 'LocalPortForwarding', 'mux'],
    ['3.3.1142.0', 'LocalPortForwarding', 'mux'],
    ['3.3.1142.0', '', 'stream'],
  ])('the plugin with agent %s and type %j runs %s', (agentVersion, portType, mode) => {
    expect(pluginPortSession(agentVersion, portType)).toBe(mode);
  });

  it('agent and plugin agree for every released agent version around the threshold', () => {
    for (const agentVersion of [
      '2.3.1644.0',
      '3.0.151.0',
      '3.0.161.0',
      '3.0.196.0',
      '3.0.222.0',
      '3.0.284.0',
    ]) {
      expect(agentPortSession(agentVersion, CLIENT_VERSION, 'LocalPortForwarding')).toBe(
        pluginPortSession(agentVersion, 'LocalPortForwarding'),
      );
    }
  });
});
