// The incremental decoder of one connection: bytes arrive in chunks of any size, packets come
// out one at a time. A packet that lies within one chunk is decoded in place (its payload is a
// view); one that spans chunks is assembled once its last byte has arrived, never before, so a
// declared length costs nothing until the bytes are really there.

import { PACKET_NAMES, PacketType, type ProtocolVersion } from './constants.js';
import { decodeAuth, decodeDisconnect, expectEmpty } from './decode-control.js';
import { decodeConnack, decodeConnect } from './decode-connect.js';
import { decodeAck, decodePublish } from './decode-publish.js';
import { decodeSuback, decodeSubscribe, decodeUnsuback, decodeUnsubscribe } from './decode-subscribe.js';
import { malformed, ProtocolError, protocolError } from './errors.js';
import type { Packet } from './packets.js';
import { Reader } from './reader.js';

export interface DecoderOptions {
  /**
   * Which end this decoder serves. 'server' (default) decodes what clients send: CONNECT must
   * come first and once, and packets only a server sends are refused. 'client' decodes what a
   * server sends, and needs `protocolVersion`.
   */
  side?: 'server' | 'client';
  /** The version in use; a server-side decoder learns it from CONNECT. */
  protocolVersion?: ProtocolVersion;
  /** Largest packet accepted once CONNECT has been read, header included. Default 1 MiB. */
  maxPacketSize?: number;
  /** Largest packet accepted before that: the CONNECT itself. Default 64 KiB. */
  maxConnectPacketSize?: number;
}

export const DEFAULT_MAX_PACKET_SIZE = 1024 * 1024;
export const DEFAULT_MAX_CONNECT_PACKET_SIZE = 64 * 1024;

/** Fixed-header flags each type must carry [MQTT-2.2.2-2]; PUBLISH (3) has its own flags. */
const REQUIRED_FLAGS = [-1, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0];
const CLIENT_ONLY = (1 << PacketType.CONNECT) | (1 << PacketType.SUBSCRIBE) |
  (1 << PacketType.UNSUBSCRIBE) | (1 << PacketType.PINGREQ);
const SERVER_ONLY = (1 << PacketType.CONNACK) | (1 << PacketType.SUBACK) |
  (1 << PacketType.UNSUBACK) | (1 << PacketType.PINGRESP);

const EMPTY = Buffer.alloc(0);
/** Socket chunks smaller than this are kept as they are while a packet is incomplete. */
const COMPACT_ABOVE = 16 * 1024;

export class Decoder {
  /** Undefined until CONNECT has been read on a server-side decoder. See ConnectState. */
  protocolVersion: ProtocolVersion | undefined;
  maxPacketSize: number;
  maxConnectPacketSize: number;
  readonly fromClient: boolean;

  private chunks: Buffer[] = [];
  /** Read position in chunks[0]. */
  private head = 0;
  private available = 0;
  private connectSeen = false;
  private failure: ProtocolError | undefined;
  private readonly reader = new Reader();

  constructor(options: DecoderOptions = {}) {
    this.fromClient = (options.side ?? 'server') === 'server';
    this.protocolVersion = options.protocolVersion;
    if (!this.fromClient && this.protocolVersion === undefined) {
      throw new TypeError('a client-side decoder needs the protocol version');
    }
    this.connectSeen = !this.fromClient;
    this.maxPacketSize = options.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE;
    this.maxConnectPacketSize = options.maxConnectPacketSize ?? DEFAULT_MAX_CONNECT_PACKET_SIZE;
  }

  /** Bytes received and not yet decoded. */
  get bufferedBytes(): number {
    return this.available;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.available === 0) {
      this.chunks.length = 0;
      this.head = 0;
    }
    this.chunks.push(chunk);
    this.available += chunk.length;
  }

  /**
   * The next complete packet, or undefined when more bytes are needed. Throws a ProtocolError
   * (and keeps throwing it) once the stream has broken a rule: the connection must then close.
   */
  next(): Packet | undefined {
    if (this.failure !== undefined) throw this.failure;
    if (this.available === 0) return undefined;
    try {
      const packet = this.decodeNext();
      if (packet === undefined) this.compact();
      return packet;
    } catch (err) {
      this.failure = err instanceof ProtocolError ? err : malformed(String(err));
      this.chunks.length = 0;
      this.available = 0;
      throw this.failure;
    }
  }

  private decodeNext(): Packet | undefined {
    const first = this.chunks[0];
    const h = this.head;
    const b0 = first[h];
    const type = b0 >> 4;
    const flags = b0 & 0x0f;
    this.checkFirstByte(type, flags);

    // Remaining Length: at most 4 bytes [MQTT-1.5.5-1] (CVE-2026-21888 class), minimally encoded.
    let remaining = 0;
    let multiplier = 1;
    let headerLength = 1;
    for (;;) {
      if (headerLength >= this.available) return undefined;
      const b = h + headerLength < first.length ? first[h + headerLength] : this.peek(headerLength);
      headerLength++;
      remaining += (b & 0x7f) * multiplier;
      if ((b & 0x80) === 0) {
        if (b === 0 && headerLength > 2) throw malformed('Remaining Length is not minimally encoded');
        break;
      }
      if (headerLength === 5) throw malformed('Remaining Length is longer than 4 bytes');
      multiplier *= 128;
    }

    const total = headerLength + remaining;
    const limit = this.protocolVersion === undefined
      ? Math.min(this.maxConnectPacketSize, this.maxPacketSize)
      : this.maxPacketSize;
    // Refused from the header alone, before any of the body is held (CVE-2017-7651, CVE-2023-0809).
    if (total > limit) throw new ProtocolError(0x95, `packet of ${total} bytes exceeds the limit of ${limit}`);
    if (this.available < total) return undefined;

    let body: Buffer;
    let start: number;
    if (first.length - h >= total) {
      body = first;
      start = h + headerLength;
      this.consume(total);
    } else {
      this.consume(headerLength);
      body = remaining === 0 ? EMPTY : this.take(remaining);
      start = 0;
    }
    return this.decodeBody(type, flags, body, start, start + remaining);
  }

  private checkFirstByte(type: number, flags: number): void {
    if (type === 0) throw malformed('packet type 0 is reserved');
    if (type === PacketType.AUTH && this.protocolVersion !== 5) {
      // AUTH exists only in v5; before CONNECT the CONNECT-first rule below applies.
      if (this.protocolVersion !== undefined) throw malformed('packet type 15 is reserved before MQTT 5');
    }
    const required = REQUIRED_FLAGS[type];
    // [MQTT-2.2.2-2] Reserved flags; [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1] PUBREL, SUBSCRIBE, UNSUBSCRIBE carry 0010.
    if (required !== -1 && flags !== required) {
      throw malformed(`${PACKET_NAMES[type]} has fixed header flags ${flags.toString(2).padStart(4, '0')}`);
    }
    if (this.fromClient) {
      // [MQTT-3.1.0-1] The first packet is CONNECT; checked before any of its body is buffered.
      if (!this.connectSeen && type !== PacketType.CONNECT) throw protocolError(`first packet is ${PACKET_NAMES[type]}, not CONNECT`);
      // [MQTT-3.1.0-2] A second CONNECT is a Protocol Error.
      if (this.connectSeen && type === PacketType.CONNECT) throw protocolError('second CONNECT');
      if ((SERVER_ONLY & (1 << type)) !== 0) throw protocolError(`${PACKET_NAMES[type]} is sent only by a server`);
    } else {
      if ((CLIENT_ONLY & (1 << type)) !== 0) throw protocolError(`${PACKET_NAMES[type]} is sent only by a client`);
      // 3.14: a server sends DISCONNECT only in MQTT 5.
      if (type === PacketType.DISCONNECT && this.protocolVersion !== 5) throw protocolError('DISCONNECT from a 3.x server');
    }
  }

  private decodeBody(type: number, flags: number, buf: Buffer, start: number, end: number): Packet {
    const r = this.reader.reset(buf, start, end);
    if (type === PacketType.CONNECT) {
      this.connectSeen = true;
      return decodeConnect(r, this);
    }
    const version = this.protocolVersion as ProtocolVersion;
    switch (type) {
      case PacketType.PUBLISH:
        return decodePublish(r, flags, version, this.fromClient);
      case PacketType.PUBACK:
      case PacketType.PUBREC:
      case PacketType.PUBREL:
      case PacketType.PUBCOMP:
        return decodeAck(r, type, version);
      case PacketType.SUBSCRIBE:
        return decodeSubscribe(r, version);
      case PacketType.SUBACK:
        return decodeSuback(r, version);
      case PacketType.UNSUBSCRIBE:
        return decodeUnsubscribe(r, version);
      case PacketType.UNSUBACK:
        return decodeUnsuback(r, version);
      case PacketType.PINGREQ:
        expectEmpty(r, 'PINGREQ');
        return { type: PacketType.PINGREQ };
      case PacketType.PINGRESP:
        expectEmpty(r, 'PINGRESP');
        return { type: PacketType.PINGRESP };
      case PacketType.DISCONNECT:
        return decodeDisconnect(r, version);
      case PacketType.CONNACK:
        return decodeConnack(r, version);
      default:
        return decodeAuth(r);
    }
  }

  /**
   * Waiting for the rest of a packet: if the few bytes already here pin a much larger socket
   * chunk, keep a copy of them instead. A thousand publishers each pinning a 64 KiB read for
   * the first bytes of their next packet is 64 MB that nothing else accounts for.
   */
  private compact(): void {
    if (this.chunks.length !== 1) return;
    const chunk = this.chunks[0];
    if (chunk.buffer.byteLength < COMPACT_ABOVE || this.available * 4 > chunk.buffer.byteLength) return;
    this.chunks[0] = Buffer.from(chunk.subarray(this.head));
    this.head = 0;
  }

  /** The byte at logical offset i of the unread input (i < available). */
  private peek(i: number): number {
    let offset = this.head + i;
    for (const chunk of this.chunks) {
      if (offset < chunk.length) return chunk[offset];
      offset -= chunk.length;
    }
    throw new RangeError('peek past the buffered input');
  }

  private consume(n: number): void {
    this.available -= n;
    let head = this.head + n;
    while (this.chunks.length > 0 && head >= this.chunks[0].length) {
      head -= this.chunks[0].length;
      this.chunks.shift();
    }
    this.head = head;
  }

  /** Copies the next n bytes, which span chunks, into one buffer and consumes them. */
  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const chunk = this.chunks[0];
      const count = Math.min(n - copied, chunk.length - this.head);
      chunk.copy(out, copied, this.head, this.head + count);
      copied += count;
      this.consume(count);
    }
    return out;
  }
}
