/**
 * Version comparisons exactly as each upstream peer does them; the two differ, and the port
 * mode (mux or basic) and the smux keepalive are chosen from them.
 */

/**
 * session-manager-plugin src/version/versionutil.go: true only when both versions have the same
 * number of dot-separated components, all numeric, and `version` is strictly greater.
 */
export function pluginVersionGreaterThan(version: string, than: string): boolean {
  if (version === '' || than === '') return false;
  const left = version.split('.');
  const right = than.split('.');
  if (left.length !== right.length) return false;
  for (let i = 0; i < left.length; i++) {
    const a = goAtoi(left[i] as string);
    const b = goAtoi(right[i] as string);
    if (a === undefined || b === undefined) return false;
    if (a > b) return true;
    if (a < b) return false;
  }
  return false;
}

/** strconv.Atoi: an optional sign and decimal digits, nothing else. */
function goAtoi(text: string): number | undefined {
  return /^[+-]?\d+$/.test(text) ? Number.parseInt(text, 10) : undefined;
}

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

/**
 * amazon-ssm-agent agent/versionutil/versionutil.go Compare(this, other, strictSort=true):
 * SemVer rules when both parse as SemVer (three components), otherwise component by component,
 * numerically where both are numbers and as text otherwise; then the longer version is greater.
 */
export function agentCompareVersions(version: string, other: string): number {
  const a = SEMVER.exec(version);
  const b = SEMVER.exec(other);
  if (a !== null && b !== null) return compareSemver(a, b);
  const left = version.split('.');
  const right = other.split('.');
  for (let i = 0; i < left.length && i < right.length; i++) {
    const x = left[i] as string;
    const y = right[i] as string;
    const nx = goAtoi(x);
    const ny = goAtoi(y);
    if (nx !== undefined && ny !== undefined) {
      if (nx !== ny) return nx < ny ? -1 : 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return left.length - right.length;
}

function compareSemver(a: RegExpExecArray, b: RegExpExecArray): number {
  for (let i = 1; i <= 3; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    if (x !== y) return x < y ? -1 : 1;
  }
  const preA = a[4];
  const preB = b[4];
  if (preA === preB) return 0;
  if (preA === undefined) return 1;
  if (preB === undefined) return -1;
  const partsA = preA.split('.');
  const partsB = preB.split('.');
  for (let i = 0; i < partsA.length && i < partsB.length; i++) {
    const x = partsA[i] as string;
    const y = partsB[i] as string;
    const numeric = /^\d+$/.test(x) && /^\d+$/.test(y);
    if (numeric && Number(x) !== Number(y)) return Number(x) < Number(y) ? -1 : 1;
    if (!numeric && x !== y) return x < y ? -1 : 1;
  }
  return Math.sign(partsA.length - partsB.length);
}

/** Thresholds from both repositories (plugin src/config/config.go, agent plugins/port/port.go). */
export const VERSION_THRESHOLDS = {
  /** Agent (port.go muxSupportedClientVersion): mux when Compare(clientVersion, this) >= 0. */
  muxSupportedClientVersion: '1.1.70',
  /** Agent (port.go muxKeepAliveDisabledAfterThisClientVersion): smux keepalive off when Compare(clientVersion, this) > 0. */
  muxKeepAliveDisabledAfterThisClientVersion: '1.2.331.0',
  /**
   * Plugin (config.go TCPMultiplexingSupportedAfterThisAgentVersion): mux when the agent version
   * is strictly greater. The agent has no such check on its own version: mux is simply absent
   * from older builds. port_mux.go came with amazon-ssm-agent commit a0fa8740 ("Support TCP
   * multiplexing in port plugin"), first released in 3.0.222.0 (RELEASENOTES.md), the release
   * after 3.0.196.0, whose port.go is basic forwarding only and never reads the client version.
   */
  tcpMultiplexingSupportedAfterThisAgentVersion: '3.0.196.0',
  /** Plugin (config.go TCPMultiplexingWithSmuxKeepAliveDisabledAfterThisAgentVersion): its own smux keepalive off above this. */
  smuxKeepAliveDisabledAfterThisAgentVersion: '3.1.1511.0',
  /** Plugin (config.go TerminateSessionFlagSupportedAfterThisAgentVersion): the TerminateSession flag only above this. */
  terminateSessionFlagSupportedAfterThisAgentVersion: '2.3.722.0',
} as const;

/** The type property of port documents that may multiplex (mgsConfig.LocalPortForwarding). */
export const LOCAL_PORT_FORWARDING = 'LocalPortForwarding';

/**
 * What amazon-ssm-agent of `agentVersion` runs for a Port session, given the client's version
 * from the HandshakeResponse and the document's `type`: agent/session/plugins/port/port.go
 * GetSession picks mux when `type == LocalPortForwarding && Compare(clientVersion, "1.1.70",
 * true) >= 0`, basic otherwise; an agent not newer than 3.0.196.0 has no mux at all (see
 * VERSION_THRESHOLDS.tcpMultiplexingSupportedAfterThisAgentVersion).
 */
export function agentPortSession(
  agentVersion: string,
  clientVersion: string,
  portType: string,
): 'mux' | 'basic' {
  const agentHasMux =
    agentCompareVersions(agentVersion, VERSION_THRESHOLDS.tcpMultiplexingSupportedAfterThisAgentVersion) > 0;
  const clientHasMux = agentCompareVersions(clientVersion, VERSION_THRESHOLDS.muxSupportedClientVersion) >= 0;
  return agentHasMux && portType === LOCAL_PORT_FORWARDING && clientHasMux ? 'mux' : 'basic';
}

/**
 * What session-manager-plugin runs for a Port session (src/sessionmanagerplugin/session/
 * portsession/portsession.go Initialize): LocalPortForwarding → MuxPortForwarding when
 * DoesAgentSupportTCPMultiplexing(agentVersion) (strictly greater than 3.0.196.0), else
 * BasicPortForwarding; any other type → StandardStreamForwarding (stdin/stdout).
 */
export function pluginPortSession(agentVersion: string, portType: string): 'mux' | 'basic' | 'stream' {
  if (portType !== LOCAL_PORT_FORWARDING) return 'stream';
  return pluginVersionGreaterThan(
    agentVersion,
    VERSION_THRESHOLDS.tcpMultiplexingSupportedAfterThisAgentVersion,
  )
    ? 'mux'
    : 'basic';
}
