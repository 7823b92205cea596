// Fixtures for the listener tests: a real in-memory Broker behind a listener that records the
// PeerInfo it handed over, MQTT.js clients, raw MQTT packets over any stream, PROXY headers and
// hand-made WebSocket frames. Every wait is bounded, so a broken listener fails instead of hanging.

import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Broker } from '../../src/broker/broker.js';
import type { PeerInfo } from '../../src/broker/connection.js';
import { Decoder, encode, PacketType, type Packet } from '../../src/protocol/index.js';
import { startListener, type ListenerConfig, type RunningListener } from '../../src/transport/index.js';
import { within as withinMs } from '../e2e/harness.js';

export const WAIT_MS = 4000;

/** The e2e harness's `within`, with this suite's longer default (TLS handshakes on a busy machine). */
export function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  return withinMs(promise, what, ms);
}

/** A listener feeding a real broker, and the PeerInfo of every stream it handed over. */
export interface Served {
  broker: Broker;
  listener: RunningListener;
  port: number;
  peers: PeerInfo[];
  /** The PeerInfo of the n-th stream handed over (0-based), waiting for it if need be. */
  peer(n: number): Promise<PeerInfo>;
  close(): Promise<void>;
}

export async function serve(config: ListenerConfig): Promise<Served> {
  const broker = new Broker({});
  const peers: PeerInfo[] = [];
  let wake: (() => void) | undefined;
  const listener = await startListener(config, (stream, peer) => {
    peers.push(peer);
    broker.handle(stream, peer);
    wake?.();
  });
  const peer = async (n: number): Promise<PeerInfo> => {
    while (peers.length <= n) await within(new Promise<void>((resolve) => { wake = resolve; }), `stream #${n} handed to the broker`);
    return peers[n];
  };
  return {
    broker, listener, port: listener.address.port, peers, peer,
    close: async () => {
      await listener.close();
      await broker.close();
    },
  };
}

const clients = new Set<MqttClient>();

/** Connects MQTT.js (no reconnects); rejects if the connection fails or closes before CONNACK. */
export async function connectMqtt(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: WAIT_MS, clientId: `t-${Math.random().toString(36).slice(2)}`, ...options });
  clients.add(client);
  client.on('error', () => undefined);
  try {
    await within(new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error('connection closed before CONNACK')));
    }), `MQTT.js to connect to ${url}`);
  } catch (err) {
    await endClient(client);
    throw err;
  }
  return client;
}

export function endClient(client: MqttClient): Promise<void> {
  clients.delete(client);
  return within(new Promise<void>((resolve) => client.end(true, {}, () => resolve())), 'MQTT.js to end');
}

export async function endAllClients(): Promise<void> {
  await Promise.all([...clients].map((c) => endClient(c)));
}

/** Subscribes `subscriber`, publishes from `publisher` (QoS 1), and checks the message arrives. */
export async function roundTrip(subscriber: MqttClient, publisher: MqttClient = subscriber, topic = `t/${Math.random().toString(36).slice(2)}`): Promise<void> {
  await within(subscriber.subscribeAsync(topic, { qos: 1 }), 'SUBACK');
  const payload = `hello ${topic}`;
  const received = new Promise<string>((resolve) => {
    const onMessage = (t: string, p: Buffer): void => {
      if (t !== topic) return;
      subscriber.off('message', onMessage);
      resolve(p.toString());
    };
    subscriber.on('message', onMessage);
  });
  await within(publisher.publishAsync(topic, payload, { qos: 1 }), 'PUBACK');
  assert.equal(await within(received, `the message on ${topic}`), payload);
}

/** Resolves when the stream has closed. */
export function closed(stream: Duplex | Socket, what = 'the connection to close', ms = WAIT_MS): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return within(new Promise<void>((resolve) => stream.once('close', () => resolve())), what, ms);
}

/** A TCP connection; resolves once connected. */
export function tcpConnect(port: number, host = '127.0.0.1'): Promise<Socket> {
  return within(new Promise<Socket>((resolve, reject) => {
    const socket = netConnect({ port, host, noDelay: true }, () => resolve(socket));
    socket.once('error', reject);
  }), `a TCP connection to ${host}:${port}`);
}

/** Writes and waits until the bytes left this process. */
export function send(stream: Duplex, bytes: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => stream.write(bytes, (err) => (err ? reject(err) : resolve())));
}

/** Resolves when the stream closes without having received any byte; fails if data arrives. */
export function closesSilently(stream: Duplex, what = 'the connection to be closed'): Promise<void> {
  return within(new Promise<void>((resolve, reject) => {
    stream.on('error', () => undefined);
    stream.once('data', (d: Buffer) => reject(new Error(`expected a close, got ${d.length} bytes: ${d.toString('latin1').slice(0, 60)}`)));
    stream.once('close', () => resolve());
  }), what);
}

// MQTT packets.

export function connectPacket(clientId: string, version: 4 | 5 = 4): Buffer {
  return encode({ type: PacketType.CONNECT, protocolVersion: version, clean: true, keepAlive: 0, clientId }, version);
}

export function subscribePacket(filter: string, packetId = 1): Buffer {
  return encode({ type: PacketType.SUBSCRIBE, packetId, subscriptions: [{ filter, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] }, 4);
}

export function publishPacket(topic: string, payload: string): Buffer {
  return encode({ type: PacketType.PUBLISH, topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false, packetId: 0 }, 4);
}

/** Decodes the MQTT packets a server sends on a byte stream, awaiting them one by one. */
export class PacketReader {
  private readonly decoder = new Decoder({ side: 'client', protocolVersion: 4, maxPacketSize: 1 << 24 });
  private readonly packets: Packet[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  /** Without a stream, feed it with `push`. */
  constructor(stream?: Duplex) {
    stream?.on('data', (chunk: Buffer) => this.push(chunk));
    stream?.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  push(chunk: Buffer): void {
    this.decoder.push(chunk);
    for (let p = this.decoder.next(); p !== undefined; p = this.decoder.next()) this.packets.push(p);
    this.wake?.();
  }

  async next<T extends Packet['type']>(type: T, ms = WAIT_MS): Promise<Extract<Packet, { type: T }>> {
    const deadline = Date.now() + ms;
    while (this.packets.length === 0) {
      if (this.ended) throw new Error(`connection closed while waiting for packet type ${type}`);
      await within(new Promise<void>((resolve) => { this.wake = resolve; }), `packet type ${type}`, Math.max(1, deadline - Date.now()));
    }
    const p = this.packets.shift()!;
    assert.equal(p.type, type, `expected packet type ${type}, got ${JSON.stringify(p)}`);
    return p as Extract<Packet, { type: T }>;
  }
}

// PROXY protocol headers, built independently of the parser under test.

export function proxyV1(family: 'TCP4' | 'TCP6', src: string, dst: string, srcPort: number, dstPort: number): Buffer {
  return Buffer.from(`PROXY ${family} ${src} ${dst} ${srcPort} ${dstPort}\r\n`, 'latin1');
}

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** v2 header; `tlvs` appended after the addresses (and counted in the length). */
export function proxyV2(options: {
  command?: 'PROXY' | 'LOCAL';
  family?: 'INET' | 'INET6' | 'UNSPEC';
  src?: string; dst?: string; srcPort?: number; dstPort?: number;
  tlvs?: Buffer;
}): Buffer {
  const { command = 'PROXY', family = 'INET', srcPort = 0, dstPort = 0, tlvs = Buffer.alloc(0) } = options;
  let addresses: Buffer;
  if (family === 'INET') {
    addresses = Buffer.alloc(12);
    Buffer.from((options.src ?? '0.0.0.0').split('.').map(Number)).copy(addresses, 0);
    Buffer.from((options.dst ?? '0.0.0.0').split('.').map(Number)).copy(addresses, 4);
    addresses.writeUInt16BE(srcPort, 8);
    addresses.writeUInt16BE(dstPort, 10);
  } else if (family === 'INET6') {
    addresses = Buffer.alloc(36);
    ipv6Bytes(options.src ?? '::').copy(addresses, 0);
    ipv6Bytes(options.dst ?? '::').copy(addresses, 16);
    addresses.writeUInt16BE(srcPort, 32);
    addresses.writeUInt16BE(dstPort, 34);
  } else {
    addresses = Buffer.alloc(0);
  }
  const head = Buffer.alloc(4);
  head[0] = 0x20 | (command === 'PROXY' ? 1 : 0);
  head[1] = (family === 'INET' ? 0x10 : family === 'INET6' ? 0x20 : 0x00) | (family === 'UNSPEC' ? 0 : 1);
  head.writeUInt16BE(addresses.length + tlvs.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, addresses, tlvs]);
}

/** 16 bytes of a full or '::'-compressed IPv6 address (no embedded IPv4). */
function ipv6Bytes(text: string): Buffer {
  const [left, right] = text.includes('::') ? text.split('::') : [text, undefined];
  const l = left === '' ? [] : left.split(':');
  const r = right === undefined || right === '' ? [] : right.split(':');
  const groups = [...l, ...Array<string>(8 - l.length - r.length).fill('0'), ...r];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

// WebSocket by hand (RFC 6455), for what a client library will not send.

/** The HTTP upgrade request a WebSocket client sends. */
export function upgradeRequest(path: string, protocols?: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
    `${protocols === undefined ? '' : `Sec-WebSocket-Protocol: ${protocols}\r\n`}${extra}\r\n`;
}

/** A masked client frame (opcode 2 binary, 1 text, 0 continuation). */
export function clientFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0, 0x80 | len]) : Buffer.from([0, 0x80 | 126, len >> 8, len & 0xff]);
  assert.ok(len < 65536);
  head[0] = (fin ? 0x80 : 0) | opcode;
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([head, mask, masked]);
}

/** Reads an HTTP response head from a raw socket; returns the status code and what followed it. */
export function readHttpResponse(socket: Socket): Promise<{ status: number; head: string; rest: Buffer }> {
  return within(new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      const head = buf.toString('latin1', 0, end);
      resolve({ status: Number(head.split(' ')[1]), head, rest: buf.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before an HTTP response (got ${JSON.stringify(buf.toString('latin1'))})`)));
  }), 'an HTTP response');
}

/** Reads unmasked server frames from bytes, returning the payloads of complete ones. */
export class ServerFrames {
  private buf = Buffer.alloc(0);
  readonly frames: { opcode: number; payload: Buffer }[] = [];

  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length < 2) return;
      let len = this.buf[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        at = 10;
      }
      if (this.buf.length < at + len) return;
      this.frames.push({ opcode: this.buf[0] & 0x0f, payload: this.buf.subarray(at, at + len) });
      this.buf = this.buf.subarray(at + len);
    }
  }
}

/** Runs a test body against a served listener, then ends its clients and closes it, whatever happened. */
export async function using(starting: Served | Promise<Served>, body: (s: Served) => Promise<void>): Promise<void> {
  const served = await starting;
  try {
    await body(served);
  } finally {
    await endAllClients();
    await served.close();
  }
}
