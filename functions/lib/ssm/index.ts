/** Session Manager port-forwarding tunnel: data channel, smux v1, and the http.Agent over it. */
export type { DataChannelStats, SsmLogger } from './datachannel.js';
export {
  EncryptionNotSupportedError,
  PortConnectError,
  SessionRefusedError,
  SessionStartError,
  TunnelClosedError,
  TunnelConnectError,
  TunnelHandshakeError,
  TunnelProtocolError,
} from './errors.js';
export {
  CLIENT_VERSION,
  dockerOptions,
  type OpenTunnelOptions,
  openTunnel,
  PORT_FORWARDING_DOCUMENT,
  REMOTE_HOST_PORT_FORWARDING_DOCUMENT,
  type Tunnel,
  type TunnelSessionInfo,
} from './tunnel.js';
