import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TunnelProtocolError } from '../../../functions/lib/ssm/errors.js';
import {
  decodeAckPayload,
  decodeFlagPayload,
  decodeMessage,
  encodeAck,
  encodeAckPayload,
  encodeFlagPayload,
  encodeMessage,
  HEADER_LENGTH,
  PayloadFlag,
  PayloadType,
  readMessageId,
  validateMessage,
  writeMessageId,
} from '../../../functions/lib/ssm/message.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const MESSAGE_ID = 'dd01e56b-ff48-483e-a508-b5f073f31b16';

describe('ClientMessage framing', () => {
  it('encodes a worked example byte for byte', () => {
    // Prepare: a ClientMessage dumped byte by byte (session-manager-plugin's
    // clientmessage.go layout: header length, type, schema version, created date, sequence,
    // flags, message id, payload digest, payload type, payload length, payload).
    const expected = hex(`
      00 00 00 74 69 6e 70 75 74 5f 73 74 72 65 61 6d
      5f 64 61 74 61 20 20 20 20 20 20 20 20 20 20 20
      20 20 20 20 00 00 00 01 00 00 01 8b cf e5 68 00
      00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
      a5 08 b5 f0 73 f3 1b 16 dd 01 e5 6b ff 48 48 3e
      2c f2 4d ba 5f b0 a3 0e 26 e8 3b 2a c5 b9 e2 9e
      1b 16 1e 5c 1f a7 42 5e 73 04 33 62 93 8b 98 24
      00 00 00 01 00 00 00 05 68 65 6c 6c 6f`);

    // Act
    const encoded = encodeMessage({
      messageType: 'input_stream_data',
      createdDate: 1_700_000_000_000,
      sequenceNumber: 0,
      flags: 0,
      messageId: MESSAGE_ID,
      payloadType: PayloadType.Output,
      payload: Buffer.from('hello'),
    });

    // Assess
    expect(encoded.toString('hex')).toBe(expected.toString('hex'));
  });

  it('decodes the worked example back to its fields', () => {
    const encoded = encodeMessage({
      messageType: 'input_stream_data',
      createdDate: 1_700_000_000_000,
      sequenceNumber: 0,
      messageId: MESSAGE_ID,
      payloadType: PayloadType.Output,
      payload: Buffer.from('hello'),
    });

    const decoded = decodeMessage(encoded);

    expect(decoded).toMatchObject({
      headerLength: 116,
      messageType: 'input_stream_data',
      schemaVersion: 1,
      createdDate: 1_700_000_000_000,
      sequenceNumber: 0,
      flags: 0,
      messageId: MESSAGE_ID,
      payloadType: 1,
      payloadLength: 5,
    });
    expect(decoded.payload.toString()).toBe('hello');
    expect(validateMessage(decoded)).toBeUndefined();
  });

  it('writes the UUID with its two 8-byte halves swapped and reads it back', () => {
    const buf = Buffer.alloc(16);

    writeMessageId(buf, MESSAGE_ID, 0);

    expect(buf.toString('hex')).toBe('a508b5f073f31b16dd01e56bff48483e');
    expect(readMessageId(buf, 0)).toBe(MESSAGE_ID);
    // Upper-case input is canonicalised to the lower-case form used in acknowledgements.
    writeMessageId(buf, MESSAGE_ID.toUpperCase(), 0);
    expect(readMessageId(buf, 0)).toBe(MESSAGE_ID);
  });

  it('puts the raw SHA-256 of the payload at offset 80', () => {
    const payload = Buffer.from('some payload bytes');

    const encoded = encodeMessage({ messageType: 'output_stream_data', sequenceNumber: 3, payload });

    expect(encoded.subarray(80, 112).equals(createHash('sha256').update(payload).digest())).toBe(true);
    expect(encoded.readUInt32BE(116)).toBe(payload.length);
  });

  it('writes big-endian sequence numbers and flags, including large and negative values', () => {
    const encoded = encodeMessage({
      messageType: 'output_stream_data',
      sequenceNumber: 2 ** 40 + 5,
      flags: 1,
      payload: Buffer.alloc(0),
    });

    expect(encoded.subarray(48, 56).toString('hex')).toBe('0000010000000005');
    expect(encoded.subarray(56, 64).toString('hex')).toBe('0000000000000001');
    expect(decodeMessage(encoded).sequenceNumber).toBe(2 ** 40 + 5);
    const negative = encodeMessage({
      messageType: 'acknowledge',
      sequenceNumber: -1,
      payload: Buffer.alloc(0),
    });
    expect(negative.subarray(48, 56).toString('hex')).toBe('ffffffffffffffff');
    expect(decodeMessage(negative).sequenceNumber).toBe(-1);
  });

  it('takes the payload after the wire header length and trims NUL and space padding of the type', () => {
    // Prepare: a frame from a writer that pads the type with NULs and uses a longer header.
    const encoded = encodeMessage({
      messageType: 'output_stream_data',
      sequenceNumber: 1,
      payload: Buffer.from('xy'),
    });
    const longer = Buffer.concat([encoded.subarray(0, 120), Buffer.from('ZZ'), encoded.subarray(120)]);
    longer.writeUInt32BE(HEADER_LENGTH + 2, 0);
    longer.fill(0, 4 + 'output_stream_data'.length, 36);

    const decoded = decodeMessage(longer);

    expect(decoded.messageType).toBe('output_stream_data');
    expect(decoded.payload.toString()).toBe('xy');
  });

  it('reports a wrong digest, a missing date and short frames', () => {
    const encoded = encodeMessage({
      messageType: 'output_stream_data',
      sequenceNumber: 1,
      payload: Buffer.from('abc'),
    });
    const corrupted = Buffer.from(encoded);
    corrupted[corrupted.length - 1] = 0x78;
    const undated = Buffer.from(encoded);
    undated.fill(0, 40, 48);

    expect(validateMessage(decodeMessage(corrupted))).toBe('payload hash is not valid');
    expect(validateMessage(decodeMessage(undated))).toBe('CreatedDate is missing');
    expect(() => decodeMessage(encoded.subarray(0, 100))).toThrow(TunnelProtocolError);
    const impossible = Buffer.from(encoded);
    impossible.writeUInt32BE(4000, 0);
    expect(() => decodeMessage(impossible)).toThrow(TunnelProtocolError);
  });

  it('skips validation for start and pause publication like the plugin', () => {
    const pause = encodeMessage({
      messageType: 'pause_publication',
      sequenceNumber: 0,
      payload: Buffer.from('x'),
    });
    pause.fill(0, 80, 112);

    expect(validateMessage(decodeMessage(pause))).toBeUndefined();
  });
});

describe('acknowledgements and flags', () => {
  it('serialises the ack payload exactly as Go marshals AcknowledgeContent', () => {
    const payload = encodeAckPayload({
      messageType: 'output_stream_data',
      messageId: MESSAGE_ID,
      sequenceNumber: 7,
    });

    expect(payload.toString()).toBe(
      '{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"dd01e56b-ff48-483e-a508-b5f073f31b16","AcknowledgedMessageSequenceNumber":7,"IsSequentialMessage":true}',
    );
    expect(payload.length).toBe(176);
  });

  it('builds the ack message: type acknowledge, sequence 0, flags 3, payload type 0', () => {
    const ackId = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

    const ack = encodeAck(
      { messageType: 'output_stream_data', messageId: MESSAGE_ID, sequenceNumber: 7 },
      { messageId: ackId, createdDate: 1_700_000_000_123 },
    );

    const header = hex(`
      00 00 00 74 61 63 6b 6e 6f 77 6c 65 64 67 65 20
      20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20
      20 20 20 20 00 00 00 01 00 00 01 8b cf e5 68 7b
      00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 03
      87 96 a5 b4 c3 d2 e1 f0 0f 1e 2d 3c 4b 5a 69 78
      bb 48 7a 3f 07 6a ac 75 c3 a3 5b 6e 40 2d 2e 44
      cc dd 98 44 ac 4e 5b 20 07 e8 b4 ac 8f 1d 8f 31
      00 00 00 00 00 00 00 b0`);
    expect(ack.subarray(0, 120).toString('hex')).toBe(header.toString('hex'));
    expect(decodeAckPayload(decodeMessage(ack).payload)).toEqual({
      AcknowledgedMessageType: 'output_stream_data',
      AcknowledgedMessageId: MESSAGE_ID,
      AcknowledgedMessageSequenceNumber: 7,
      IsSequentialMessage: true,
    });
  });

  it('rejects payloads that are not acknowledgements', () => {
    expect(() => decodeAckPayload(Buffer.from('nope'))).toThrow(TunnelProtocolError);
    expect(() => decodeAckPayload(Buffer.from('{"AcknowledgedMessageId":"x"}'))).toThrow(TunnelProtocolError);
  });

  it('encodes flags as 4-byte big-endian integers', () => {
    expect(encodeFlagPayload(PayloadFlag.TerminateSession).toString('hex')).toBe('00000002');
    expect(encodeFlagPayload(PayloadFlag.DisconnectToPort).toString('hex')).toBe('00000001');
    expect(decodeFlagPayload(hex('00000003'))).toBe(PayloadFlag.ConnectToPortError);
    expect(decodeFlagPayload(hex('03'))).toBeUndefined();
    const flag = encodeMessage({
      messageType: 'input_stream_data',
      sequenceNumber: 9,
      payloadType: PayloadType.Flag,
      payload: encodeFlagPayload(PayloadFlag.TerminateSession),
    });
    expect(flag.subarray(80, 112).toString('hex')).toBe(
      '433ebf5bc03dffa38536673207a21281612cef5faa9bc7a4d5b9be2fdb12cf1a',
    );
    expect(flag.readUInt32BE(112)).toBe(10);
  });
});
