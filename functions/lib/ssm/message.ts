import { createHash, randomUUID } from 'node:crypto';
import { TunnelProtocolError } from './errors.js';

/**
 * The binary ClientMessage of the Session Manager data channel (AgentMessage on the agent side).
 * Layout, all integers big-endian (session-manager-plugin src/message/messageparser.go,
 * amazon-ssm-agent agent/session/contracts/agentmessage.go):
 *
 *   0 HeaderLength u32 (=116) | 4 MessageType 32 bytes, space padded | 36 SchemaVersion u32
 *  40 CreatedDate u64 ms | 48 SequenceNumber i64 | 56 Flags u64 | 64 MessageId 16 (halves swapped)
 *  80 PayloadDigest 32 (raw SHA-256) | 112 PayloadType u32 | 116 PayloadLength u32 | 120 Payload
 */

export const HEADER_LENGTH = 116;
export const PAYLOAD_OFFSET = HEADER_LENGTH + 4;

const TYPE_OFFSET = 4;
const TYPE_LENGTH = 32;
const SCHEMA_OFFSET = 36;
const CREATED_OFFSET = 40;
const SEQUENCE_OFFSET = 48;
const FLAGS_OFFSET = 56;
const ID_OFFSET = 64;
const DIGEST_OFFSET = 80;
const PAYLOAD_TYPE_OFFSET = 112;
const PAYLOAD_LENGTH_OFFSET = 116;

export const MessageType = {
  InputStreamData: 'input_stream_data',
  OutputStreamData: 'output_stream_data',
  Acknowledge: 'acknowledge',
  ChannelClosed: 'channel_closed',
  StartPublication: 'start_publication',
  PausePublication: 'pause_publication',
  AgentSessionState: 'agent_session_state',
  /** Control channel: the service tells the agent to start a session. */
  InteractiveShell: 'interactive_shell',
  AgentTaskAcknowledge: 'agent_task_acknowledge',
  AgentTaskComplete: 'agent_task_complete',
} as const;

export const PayloadType = {
  Output: 1,
  Error: 2,
  Size: 3,
  Parameter: 4,
  HandshakeRequest: 5,
  HandshakeResponse: 6,
  HandshakeComplete: 7,
  EncChallengeRequest: 8,
  EncChallengeResponse: 9,
  Flag: 10,
  StdErr: 11,
  ExitCode: 12,
} as const;

/** Values of a Flag payload (a 4-byte big-endian uint32). */
export const PayloadFlag = {
  DisconnectToPort: 1,
  TerminateSession: 2,
  ConnectToPortError: 3,
} as const;

/** Message flags: SYN on the first message of a stream, and 3 on acknowledgements. */
export const MessageFlags = { Syn: 1, Fin: 2, Ack: 3 } as const;

/** One decoded data-channel message. `messageId` is the canonical lower-case UUID string. */
export interface ClientMessage {
  headerLength: number;
  messageType: string;
  schemaVersion: number;
  createdDate: number;
  sequenceNumber: number;
  flags: number;
  messageId: string;
  payloadDigest: Buffer;
  payloadType: number;
  payloadLength: number;
  payload: Buffer;
}

/** What a writer chooses; the rest (header length, digest, payload length) is derived. */
export interface MessageFields {
  messageType: string;
  schemaVersion?: number;
  createdDate?: number;
  sequenceNumber: number;
  flags?: number;
  messageId?: string;
  payloadType?: number;
  payload: Buffer;
}

const paddedTypes = new Map<string, Buffer>();

/** The 32-byte message type field: the ASCII name followed by spaces (putString fills with ' '). */
function paddedType(messageType: string): Buffer {
  let padded = paddedTypes.get(messageType);
  if (padded === undefined) {
    if (messageType.length === 0 || messageType.length > TYPE_LENGTH || !/^[\x20-\x7e]+$/.test(messageType)) {
      throw new TypeError(`invalid message type ${JSON.stringify(messageType)}`);
    }
    padded = Buffer.alloc(TYPE_LENGTH, 0x20);
    padded.write(messageType, 0, 'ascii');
    paddedTypes.set(messageType, padded);
  }
  return padded;
}

function writeInt64(buf: Buffer, value: number, offset: number): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`not a safe integer: ${value}`);
  const high = Math.floor(value / 0x1_0000_0000);
  buf.writeInt32BE(high, offset);
  buf.writeUInt32BE(value - high * 0x1_0000_0000, offset + 4);
}

function readInt64(buf: Buffer, offset: number): number {
  return buf.readInt32BE(offset) * 0x1_0000_0000 + buf.readUInt32BE(offset + 4);
}

function readUInt64(buf: Buffer, offset: number): number {
  return buf.readUInt32BE(offset) * 0x1_0000_0000 + buf.readUInt32BE(offset + 4);
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Writes a UUID the way putUuid does: the least significant 8 bytes (b[8..15]) first, then the
 * most significant 8 bytes (b[0..7]). The bytes inside each half keep their order.
 */
export function writeMessageId(buf: Buffer, uuid: string, offset = ID_OFFSET): void {
  const lower = uuid.toLowerCase();
  if (!UUID_PATTERN.test(lower)) throw new TypeError(`invalid uuid ${JSON.stringify(uuid)}`);
  const hex = lower.replaceAll('-', '');
  buf.write(hex.slice(16, 32), offset, 'hex');
  buf.write(hex.slice(0, 16), offset + 8, 'hex');
}

/** Reads a MessageId written by putUuid (the reverse swap) as a canonical hyphenated string. */
export function readMessageId(buf: Buffer, offset = ID_OFFSET): string {
  const hex = buf.toString('hex', offset + 8, offset + 16) + buf.toString('hex', offset, offset + 8);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Encodes one message. The digest is the raw SHA-256 of the payload, as both peers write it. */
export function encodeMessage(fields: MessageFields): Buffer {
  const payload = fields.payload;
  const buf = Buffer.allocUnsafe(PAYLOAD_OFFSET + payload.length);
  buf.writeUInt32BE(HEADER_LENGTH, 0);
  paddedType(fields.messageType).copy(buf, TYPE_OFFSET);
  buf.writeUInt32BE(fields.schemaVersion ?? 1, SCHEMA_OFFSET);
  writeInt64(buf, fields.createdDate ?? Date.now(), CREATED_OFFSET);
  writeInt64(buf, fields.sequenceNumber, SEQUENCE_OFFSET);
  writeInt64(buf, fields.flags ?? 0, FLAGS_OFFSET);
  writeMessageId(buf, fields.messageId ?? randomUUID(), ID_OFFSET);
  createHash('sha256').update(payload).digest().copy(buf, DIGEST_OFFSET);
  buf.writeUInt32BE(fields.payloadType ?? 0, PAYLOAD_TYPE_OFFSET);
  buf.writeUInt32BE(payload.length, PAYLOAD_LENGTH_OFFSET);
  payload.copy(buf, PAYLOAD_OFFSET);
  return buf;
}

/**
 * Decodes one message. Like both Go readers, the payload is everything after HeaderLength + 4
 * (the wire's HeaderLength, not a constant), not a slice by PayloadLength.
 * @throws TunnelProtocolError when the frame is too short or its header length is impossible.
 */
export function decodeMessage(buf: Buffer): ClientMessage {
  if (buf.length < PAYLOAD_OFFSET) {
    throw new TunnelProtocolError(`data-channel frame of ${buf.length} bytes is shorter than its header`);
  }
  const headerLength = buf.readUInt32BE(0);
  if (headerLength < PAYLOAD_LENGTH_OFFSET || headerLength + 4 > buf.length) {
    throw new TunnelProtocolError(`data-channel frame has an impossible header length ${headerLength}`);
  }
  return {
    headerLength,
    // Readers trim NULs and then whitespace (strings.TrimRight(..., "\x00") then TrimSpace).
    messageType: buf
      .toString('ascii', TYPE_OFFSET, TYPE_OFFSET + TYPE_LENGTH)
      .replace(/\0+$/, '')
      .trim(),
    schemaVersion: buf.readUInt32BE(SCHEMA_OFFSET),
    createdDate: readUInt64(buf, CREATED_OFFSET),
    sequenceNumber: readInt64(buf, SEQUENCE_OFFSET),
    flags: readUInt64(buf, FLAGS_OFFSET),
    messageId: readMessageId(buf, ID_OFFSET),
    payloadDigest: buf.subarray(DIGEST_OFFSET, DIGEST_OFFSET + 32),
    payloadType: buf.readUInt32BE(PAYLOAD_TYPE_OFFSET),
    payloadLength: buf.readUInt32BE(PAYLOAD_LENGTH_OFFSET),
    payload: buf.subarray(headerLength + 4),
  };
}

/**
 * The session-manager-plugin's Validate(): start/pause_publication skip it; otherwise header
 * length, type and date must be set, and a non-empty payload must match its digest.
 * Returns the problem as text, or undefined when the message is valid.
 */
export function validateMessage(message: ClientMessage): string | undefined {
  if (
    message.messageType === MessageType.StartPublication ||
    message.messageType === MessageType.PausePublication
  ) {
    return undefined;
  }
  if (message.headerLength === 0) return 'HeaderLength cannot be zero';
  if (message.messageType === '') return 'MessageType is missing';
  if (message.createdDate === 0) return 'CreatedDate is missing';
  if (message.payloadLength !== 0) {
    const digest = createHash('sha256').update(message.payload).digest();
    if (!digest.equals(message.payloadDigest)) return 'payload hash is not valid';
  }
  return undefined;
}

/** The JSON payload of an acknowledge message. Field order matches Go's json.Marshal of AcknowledgeContent. */
export interface AcknowledgeContent {
  AcknowledgedMessageType: string;
  AcknowledgedMessageId: string;
  AcknowledgedMessageSequenceNumber: number;
  IsSequentialMessage: boolean;
}

export function encodeAckPayload(acked: {
  messageType: string;
  messageId: string;
  sequenceNumber: number;
}): Buffer {
  const content: AcknowledgeContent = {
    AcknowledgedMessageType: acked.messageType,
    AcknowledgedMessageId: acked.messageId,
    AcknowledgedMessageSequenceNumber: acked.sequenceNumber,
    IsSequentialMessage: true,
  };
  return Buffer.from(JSON.stringify(content));
}

/**
 * An acknowledge message: sequence 0, flags 3, payload type 0, a fresh id (SerializeClientMessageWithAcknowledgeContent
 * in the plugin, sendAgentMessage in the agent).
 */
export function encodeAck(
  acked: { messageType: string; messageId: string; sequenceNumber: number },
  fields?: { messageId?: string; createdDate?: number },
): Buffer {
  return encodeMessage({
    messageType: MessageType.Acknowledge,
    sequenceNumber: 0,
    flags: MessageFlags.Ack,
    payloadType: 0,
    payload: encodeAckPayload(acked),
    ...(fields?.messageId === undefined ? {} : { messageId: fields.messageId }),
    ...(fields?.createdDate === undefined ? {} : { createdDate: fields.createdDate }),
  });
}

/** @throws TunnelProtocolError when the payload is not an acknowledgement. */
export function decodeAckPayload(payload: Buffer): AcknowledgeContent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (cause) {
    throw new TunnelProtocolError('acknowledge payload is not JSON', { cause });
  }
  const ack = parsed as Partial<AcknowledgeContent> | null;
  if (ack === null || typeof ack !== 'object' || typeof ack.AcknowledgedMessageSequenceNumber !== 'number') {
    throw new TunnelProtocolError('acknowledge payload has no AcknowledgedMessageSequenceNumber');
  }
  return {
    AcknowledgedMessageType: String(ack.AcknowledgedMessageType ?? ''),
    AcknowledgedMessageId: String(ack.AcknowledgedMessageId ?? ''),
    AcknowledgedMessageSequenceNumber: ack.AcknowledgedMessageSequenceNumber,
    IsSequentialMessage: ack.IsSequentialMessage === true,
  };
}

/** A Flag payload: the flag as a 4-byte big-endian uint32. */
export function encodeFlagPayload(flag: number): Buffer {
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(flag, 0);
  return buf;
}

/** Reads a Flag payload; undefined when it is shorter than 4 bytes. */
export function decodeFlagPayload(payload: Buffer): number | undefined {
  return payload.length >= 4 ? payload.readUInt32BE(0) : undefined;
}

/** The channel_closed payload sent by the service (plugin message.ChannelClosed). */
export interface ChannelClosedContent {
  MessageId: string;
  CreatedDate: string;
  DestinationId: string;
  SessionId: string;
  MessageType: string;
  SchemaVersion: number;
  Output: string;
}
