/**
 * An AWS-like latency model for the local stand-ins: what the network between a Lambda function,
 * the regional AWS endpoints and a managed instance's SSM agent adds, as delays a userspace TCP
 * proxy (local/latency/proxy.ts) applies, plus the agent's own pacing. Loopback costs next to
 * nothing; on AWS every API call, every new TLS connection and every data-channel message crosses
 * a real network.
 *
 * Every figure is either a published measurement or documentation (SOURCES, cited where used) or
 * an assumption stated as such. The measured figures come from one region and one setup each; they
 * are orders of magnitude to reason with, not properties of any given account.
 */

/** A published figure the model uses. */
export interface Source {
  /** What the figure is. */
  figure: string;
  /** Who measured or documented it, and where. */
  title: string;
  url: string;
}

/** The sources of the model's figures, by key (cited in the profiles below and in the bench README section). */
export const SOURCES = {
  lambdaEndpointRtt: {
    figure:
      'TCP connect from a Lambda function (arm64, 128 MB, ap-northeast-1) to dynamodb.ap-northeast-1.amazonaws.com: 0.7 ms; DNS 7.3 ms',
    title:
      'Shinya Tahara, "Lambda Rust First-Request 900ms Explained — TLS Handshake Accounts for 99%" (2026)',
    url: 'https://shinyaz.com/en/blog/2026/03/31/lambda-rust-tls-latency-breakdown',
  },
  lambdaKeepAlive: {
    figure:
      'DynamoDB PutItem from a Node.js Lambda function: about 33 ms per call on a new connection, about 10 ms with HTTP keep-alive (23 ms of connection set-up)',
    title: 'Yan Cui, "Lambda optimization tip – enable HTTP keep-alive" (2019)',
    url: 'https://theburningmonk.com/2019/02/lambda-optimization-tip-enable-http-keep-alive/',
  },
  sdkKeepAlive: {
    figure: 'the AWS SDK for JavaScript v3 reuses TCP connections (keep-alive) by default',
    title: 'AWS SDK for JavaScript v3 Developer Guide, "Reuse connections with keep-alive in Node.js"',
    url: 'https://docs.aws.amazon.com/sdk-for-javascript/v3/developer-guide/node-reusing-connections.html',
  },
  tlsRoundTrips: {
    figure:
      'a full TLS 1.2 handshake takes 2 round trips, 3 with the TCP handshake; TLS 1.3 takes 2 with TCP',
    title: 'GnuTLS manual, 6.5.2 "Reducing round-trips"',
    url: 'https://gnutls.org/manual/html_node/Reducing-round_002dtrips.html',
  },
  tlsMinimum: {
    figure:
      'TLS 1.2 is the minimum version of every AWS service API endpoint (higher versions where supported)',
    title: 'AWS Security Blog, "TLS 1.2 to become the minimum TLS protocol level for all AWS API endpoints"',
    url: 'https://aws.amazon.com/blogs/security/tls-1-2-required-for-aws-endpoints/',
  },
  azLatency: {
    figure: 'Availability Zones of a Region: up to about 100 km apart, "single-digit millisecond latency"',
    title: 'AWS whitepaper "AWS Fault Isolation Boundaries", Availability Zones',
    url: 'https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/availability-zones.html',
  },
  crossAzPing: {
    figure:
      'ping between EC2 instances in eu-west-1a/b/c: averages 0.82–0.83 ms across AZs (5 minutes of pings)',
    title: 'Lukas Liesis, "What is AWS EC2 cross availability zones network lag vs inside same zone?" (2022)',
    url: 'https://lukasliesis.medium.com/what-is-aws-ec2-cross-availability-zones-network-lag-vs-inside-same-zone-827a4e06b6d7',
  },
  crossAzRange: {
    figure: 'best of 50 pings between AZs of every Region: 0.25 ms (aps1) to 3.37 ms (sae1)',
    title: 'xkyle.com, "Measuring AWS Region and AZ Latency"',
    url: 'https://xkyle.com/Measuring-AWS-Region-and-AZ-Latency',
  },
  internetToRegion: {
    figure:
      'round trip from a host on the internet (Tel Aviv) to the nearest AWS Region (eu-central-2, Zurich): 53 ms; to the farthest: 361 ms',
    title: 'bitsand.cloud, "Cross-AZ latencies" (introduction)',
    url: 'https://www.bitsand.cloud/posts/cross-az-latencies',
  },
  hybridMaxRtt: {
    figure:
      'on-premises hybrid nodes: at least 100 Mbps and at most 200 ms round trip to the AWS Region recommended',
    title: 'Amazon EKS User Guide, "Prepare networking for hybrid nodes"',
    url: 'https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html',
  },
  agentPacing: {
    figure:
      'the agent reads at most StreamDataPayloadSize (1024) bytes from the port, sends them as one Output message, then sleeps 1 ms (time.Sleep(time.Millisecond)) before the next read',
    title:
      'aws/amazon-ssm-agent agent/session/plugins/port/port_mux.go (transferDataToMgs), port_basic.go (WritePump), agent/session/config/config.go',
    url: 'https://github.com/aws/amazon-ssm-agent/blob/mainline/agent/session/plugins/port/port_mux.go',
  },
  agentRestKeepAlive: {
    figure:
      "CreateDataChannel is a REST call through an http.Client on Go's DefaultTransport, which keeps idle connections for reuse (90 s)",
    title: 'aws/amazon-ssm-agent agent/session/service/service.go (makeRestcall)',
    url: 'https://github.com/aws/amazon-ssm-agent/blob/mainline/agent/session/service/service.go',
  },
} satisfies Record<string, Source>;

/** The key of a source in SOURCES. */
export type SourceKey = keyof typeof SOURCES;

/** One network path of the model, as the proxy applies it. */
export interface LinkModel {
  /** Round-trip time of the path (ms); every chunk is delayed by half of it in each direction. */
  rttMs: number;
  /** Round trips a new connection pays before its first byte moves (TCP, then TLS). */
  handshakeRoundTrips: number;
  /** Time a new connection pays once beside the round trips (DNS, TLS computation), ms. */
  setupMs: number;
  /** The server's time to answer a request: added to the first answer chunk after request bytes (ms). */
  responseDelayMs: number;
  /** Where the figures come from (keys of SOURCES); an empty list means every figure is assumed. */
  sources: SourceKey[];
  /** The assumptions among the figures, in words. */
  assumptions: string[];
}

/** The agent stand-in's behaviours that matter on a real network (local/ssm/agent.ts options). */
export interface AgentModel {
  /** Pause after each Output message of at most 1024 bytes (the real agent: 1 ms); 0 turns pacing off. */
  outputPacingMs: number;
  /** CreateDataChannel over a kept-alive connection, as the real agent's Go http.Client. */
  keepAliveRequests: boolean;
}

/** A named set of delays for the three paths of a Session Manager session. */
export interface LatencyProfile {
  name: ProfileName;
  description: string;
  /** (a) The Lambda function to its regional AWS API endpoints (ssm, dynamodb, …): HTTPS, kept alive by the SDK. */
  lambdaToApi: LinkModel;
  /** (b) The Lambda function to the regional ssmmessages endpoint: one new TLS websocket per session. */
  lambdaToMessages: LinkModel;
  /** (c) The SSM agent on the managed instance to ssmmessages: its control channel, CreateDataChannel, data channel. */
  agentToMessages: LinkModel;
  agent: AgentModel;
}

/** The profiles of the model. */
export type ProfileName = 'loopback' | 'aws-ec2' | 'aws-onprem' | 'aws-onprem-far';

/** A Lambda function to a regional endpoint: the measured TCP connect time (SOURCES.lambdaEndpointRtt). */
export const LAMBDA_ENDPOINT_RTT_MS = 0.7;
/** TCP (1 round trip) and a full TLS 1.2 handshake (2), SOURCES.tlsRoundTrips; TLS 1.2 is the documented minimum (SOURCES.tlsMinimum). */
export const TCP_TLS12_ROUND_TRIPS = 3;
/** A new connection from a Node.js Lambda function costs 33 − 10 = 23 ms in all (SOURCES.lambdaKeepAlive). */
export const LAMBDA_NEW_CONNECTION_MS = 23;
/** One API call on a kept-alive connection from a Lambda function (SOURCES.lambdaKeepAlive, DynamoDB PutItem). */
export const LAMBDA_API_CALL_MS = 10;
/** An EC2 instance to another AZ of its Region: average cross-AZ ping (SOURCES.crossAzPing). */
export const EC2_REGION_RTT_MS = 0.82;
/** A host on the internet to its nearest Region (SOURCES.internetToRegion). */
export const INTERNET_REGION_RTT_MS = 53;
/** The largest round trip AWS recommends for on-premises hybrid nodes (SOURCES.hybridMaxRtt). */
export const HYBRID_MAX_RTT_MS = 200;
/** ASSUMPTION (no published figure found): DNS and TLS computation of a new connection on the managed instance. */
export const AGENT_SETUP_MS = 2;

const none: LinkModel = {
  rttMs: 0,
  handshakeRoundTrips: 0,
  setupMs: 0,
  responseDelayMs: 0,
  sources: [],
  assumptions: [],
};

/**
 * (a) A Lambda function to a regional API endpoint. Set-up: the measured 23 ms of a new connection
 * minus the modelled round trips (DNS, 7.3 ms measured in SOURCES.lambdaEndpointRtt, and the TLS
 * computation make up the rest). Response: the measured 10 ms of a kept-alive call minus its round trip.
 */
const lambdaToApi: LinkModel = {
  rttMs: LAMBDA_ENDPOINT_RTT_MS,
  handshakeRoundTrips: TCP_TLS12_ROUND_TRIPS,
  setupMs: round(LAMBDA_NEW_CONNECTION_MS - TCP_TLS12_ROUND_TRIPS * LAMBDA_ENDPOINT_RTT_MS),
  responseDelayMs: round(LAMBDA_API_CALL_MS - LAMBDA_ENDPOINT_RTT_MS),
  sources: ['lambdaEndpointRtt', 'lambdaKeepAlive', 'sdkKeepAlive', 'tlsRoundTrips', 'tlsMinimum'],
  assumptions: [
    'StartSession, ResumeSession and TerminateSession answer as fast as the measured DynamoDB PutItem (no published SSM API latency found)',
    'the endpoint negotiates TLS 1.2 (3 round trips with TCP); with TLS 1.3 a new connection costs one round trip less',
    'the 23 ms new-connection cost was measured at an unstated memory size; the deployer runs at 512 MB',
  ],
};

/**
 * (b) The Lambda function to ssmmessages: the same regional path and new-connection cost as (a), a
 * new TLS websocket per session; frames are relayed, so no response time of its own.
 */
const lambdaToMessages: LinkModel = {
  rttMs: LAMBDA_ENDPOINT_RTT_MS,
  handshakeRoundTrips: TCP_TLS12_ROUND_TRIPS,
  setupMs: lambdaToApi.setupMs,
  responseDelayMs: 0,
  sources: ['lambdaEndpointRtt', 'lambdaKeepAlive', 'tlsRoundTrips', 'tlsMinimum'],
  assumptions: [
    'ssmmessages.<region>.amazonaws.com is as far from the function as the measured DynamoDB endpoint',
    'the service relays a frame between the two websockets in no time of its own (no published figure found)',
  ],
};

/** (c) An agent on EC2 in the Region: a cross-AZ path to the endpoint. */
const agentEc2: LinkModel = {
  rttMs: EC2_REGION_RTT_MS,
  handshakeRoundTrips: TCP_TLS12_ROUND_TRIPS,
  setupMs: AGENT_SETUP_MS,
  responseDelayMs: 0,
  sources: ['crossAzPing', 'crossAzRange', 'azLatency', 'tlsRoundTrips', 'tlsMinimum'],
  assumptions: [
    'the endpoint is one cross-AZ hop from the instance (a NAT gateway or VPC endpoint on the way adds time not modelled)',
    `a new connection's DNS and TLS computation on the instance take ${AGENT_SETUP_MS} ms (no published figure found)`,
  ],
};

/** (c) An agent on premises, reaching the Region over the internet. */
const agentOnPrem: LinkModel = {
  ...agentEc2,
  rttMs: INTERNET_REGION_RTT_MS,
  sources: ['internetToRegion', 'hybridMaxRtt', 'tlsRoundTrips', 'tlsMinimum'],
  assumptions: [
    'the site is as far from its Region as the one published measurement (53 ms); closer sites are faster',
    `a new connection's DNS and TLS computation on the host take ${AGENT_SETUP_MS} ms (no published figure found)`,
  ],
};

/** The real agent's pacing and connection reuse (SOURCES.agentPacing, SOURCES.agentRestKeepAlive). */
const realAgent: AgentModel = { outputPacingMs: 1, keepAliveRequests: true };

/** The named profiles. */
export const PROFILES: Record<ProfileName, LatencyProfile> = {
  loopback: {
    name: 'loopback',
    description:
      'no delay: the stand-ins as the unit tests run them (the agent neither paces nor keeps connections)',
    lambdaToApi: none,
    lambdaToMessages: none,
    agentToMessages: none,
    agent: { outputPacingMs: 0, keepAliveRequests: false },
  },
  'aws-ec2': {
    name: 'aws-ec2',
    description: 'Lambda and the Swarm managers (EC2) in the same Region',
    lambdaToApi,
    lambdaToMessages,
    agentToMessages: agentEc2,
    agent: realAgent,
  },
  'aws-onprem': {
    name: 'aws-onprem',
    description: `managers on premises, ${INTERNET_REGION_RTT_MS} ms round trip over the internet to the Region`,
    lambdaToApi,
    lambdaToMessages,
    agentToMessages: agentOnPrem,
    agent: realAgent,
  },
  'aws-onprem-far': {
    name: 'aws-onprem-far',
    description: `managers on premises at the ${HYBRID_MAX_RTT_MS} ms round trip AWS recommends at most for hybrid nodes`,
    lambdaToApi,
    lambdaToMessages,
    agentToMessages: {
      ...agentOnPrem,
      rttMs: HYBRID_MAX_RTT_MS,
      sources: ['hybridMaxRtt', 'tlsRoundTrips', 'tlsMinimum'],
      assumptions: [
        'the recommended maximum used as the path round trip',
        `a new connection's DNS and TLS computation on the host take ${AGENT_SETUP_MS} ms (no published figure found)`,
      ],
    },
    agent: realAgent,
  },
};

/** The profile of that name. @throws Error naming the known profiles */
export function profile(name: string): LatencyProfile {
  const found = (PROFILES as Record<string, LatencyProfile>)[name];
  if (found === undefined) {
    throw new Error(`no latency profile named ${name}; known: ${Object.keys(PROFILES).join(', ')}`);
  }
  return found;
}

/** What a new connection on `link` costs before its first byte arrives (handshakes and set-up, then one way), ms. */
export function newConnectionMs(link: LinkModel): number {
  return link.handshakeRoundTrips * link.rttMs + link.setupMs + link.rttMs / 2;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
