// End-to-end test fixtures: a real broker on an ephemeral loopback port, a raw-packet client
// for what a client library will not send, and MQTT.js clients with awaitable messages.
// Every wait is bounded, so a broken broker fails a test instead of hanging it.

import { connect as netConnect, type Socket } from 'node:net';
import { afterEach } from 'node:test';
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { Broker, type BrokerOptions } from '../../src/index.js';
import {
  Decoder, encode, PacketType, type ConnectPacket, type Packet, type ProtocolVersion, type PublishPacket,
} from '../../src/protocol/index.js';

export const WAIT_MS = 3000;

export interface TestBroker {
  broker: Broker;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startBroker(options: BrokerOptions = {}): Promise<TestBroker> {
  const broker = new Broker(options);
  const address = await broker.listen({ port: 0, host: '127.0.0.1' });
  return { broker, port: address.port, url: `mqtt://127.0.0.1:${address.port}`, close: () => broker.close() };
}

/** Rejects after `ms` with a message naming what was awaited. */
export function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** A client that speaks raw packets: what it sends is exactly what the test wrote. */
export class RawClient {
  readonly socket: Socket;
  private decoder: Decoder;
  private readonly packets: Packet[] = [];
  /** Everyone awaiting a packet or the close; all are woken, each then checks for itself. */
  private waiters: (() => void)[] = [];
  private error: Error | undefined;
  private ended = false;
  readonly closedPromise: Promise<void>;

  private constructor(socket: Socket, readonly version: ProtocolVersion) {
    this.socket = socket;
    this.decoder = new Decoder({ side: 'client', protocolVersion: version, maxPacketSize: 1 << 28 });
    socket.on('data', (chunk) => {
      this.decoder.push(chunk);
      try {
        for (let p = this.decoder.next(); p !== undefined; p = this.decoder.next()) this.packets.push(p);
      } catch (err) {
        this.error = err as Error;
      }
      this.wake();
    });
    this.closedPromise = new Promise((resolve) => socket.once('close', () => {
      this.ended = true;
      this.wake();
      resolve();
    }));
    socket.on('error', () => undefined);
  }

  static open(port: number, version: ProtocolVersion = 4): Promise<RawClient> {
    return within(new Promise((resolve, reject) => {
      const socket = netConnect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(new RawClient(socket, version)));
      socket.once('error', reject);
    }), 'a TCP connection');
  }

  /** Opens a connection, sends CONNECT, and returns the client once CONNACK arrived. */
  static async connect(port: number, connect: Partial<ConnectPacket> & { protocolVersion?: ProtocolVersion } = {}): Promise<RawClient> {
    const version = connect.protocolVersion ?? 4;
    const client = await RawClient.open(port, version);
    client.send({ type: PacketType.CONNECT, protocolVersion: version, clean: true, keepAlive: 0, clientId: `raw-${Math.random().toString(36).slice(2)}`, ...connect });
    const connack = await client.expect(PacketType.CONNACK);
    if (connack.reasonCode !== 0) throw new Error(`CONNACK refused with 0x${connack.reasonCode.toString(16)}`);
    return client;
  }

  send(packet: Packet | Buffer): void {
    this.socket.write(Buffer.isBuffer(packet) ? packet : encode(packet, this.version));
  }

  /** The next packet the broker sends, or an error if the connection closes first. */
  async next(what = 'a packet', ms = WAIT_MS): Promise<Packet> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.error !== undefined) throw this.error;
      const p = this.packets.shift();
      if (p !== undefined) return p;
      if (this.ended) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await within(new Promise<void>((resolve) => { this.waiters.push(resolve); }), what, left);
    }
  }

  async expect<T extends Packet['type']>(type: T, ms = WAIT_MS): Promise<Extract<Packet, { type: T }>> {
    const p = await this.next(`packet type ${type}`, ms);
    if (p.type !== type) throw new Error(`expected packet type ${type}, got ${JSON.stringify(p)}`);
    return p as Extract<Packet, { type: T }>;
  }

  /** Resolves when the broker has closed the connection; fails if a packet arrives first. */
  async expectClose(ms = WAIT_MS): Promise<void> {
    await within(this.closedPromise, 'the connection to close', ms);
    if (this.packets.length > 0) throw new Error(`unexpected packets before close: ${JSON.stringify(this.packets)}`);
  }

  /** Packets received and not yet taken. */
  get buffered(): Packet[] {
    return this.packets;
  }

  get isClosed(): boolean {
    return this.ended;
  }

  publish(topic: string, payload: string | Buffer, qos: 0 | 1 | 2 = 0, extra: Partial<PublishPacket> = {}): void {
    this.send({
      type: PacketType.PUBLISH, topic, payload: Buffer.from(payload), qos, retain: false, dup: false,
      packetId: qos === 0 ? 0 : 1, ...extra,
    });
  }

  async subscribe(filter: string, qos: 0 | 1 | 2 = 0, packetId = 1): Promise<number[]> {
    this.send({ type: PacketType.SUBSCRIBE, packetId, subscriptions: [{ filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    const suback = await this.expect(PacketType.SUBACK);
    return suback.reasonCodes;
  }

  destroy(): void {
    this.socket.destroy();
  }

  end(): Promise<void> {
    this.socket.end();
    return within(this.closedPromise, 'the socket to close');
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export interface ReceivedMessage {
  topic: string;
  payload: string;
  packet: mqtt.IPublishPacket;
}

/** An MQTT.js client plus a queue of the messages it received. */
export interface TestClient {
  client: MqttClient;
  /** The CONNACK the broker answered with. */
  connack: IConnackPacket;
  /** The next message received (in order), bounded in time. */
  nextMessage(ms?: number): Promise<ReceivedMessage>;
  received: ReceivedMessage[];
  end(): Promise<void>;
}

/** Connects MQTT.js with the given protocol version (3 uses the 3.1 protocol name MQIsdp). */
export async function connectClient(url: string, version: 3 | 4 | 5, options: IClientOptions = {}): Promise<TestClient> {
  const client = mqtt.connect(url, {
    protocolVersion: version,
    ...(version === 3 ? { protocolId: 'MQIsdp' } : {}),
    reconnectPeriod: 0,
    connectTimeout: WAIT_MS,
    ...options,
  });
  // Listen before the CONNACK: a resumed session's queued messages follow it at once.
  const received: ReceivedMessage[] = [];
  const queue: ReceivedMessage[] = [];
  let waiter: (() => void) | undefined;
  client.on('message', (topic, payload, packet) => {
    const message = { topic, payload: payload.toString(), packet };
    received.push(message);
    queue.push(message);
    const w = waiter;
    waiter = undefined;
    w?.();
  });
  let connack: IConnackPacket;
  try {
    connack = await within(new Promise<IConnackPacket>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
      client.once('close', () => reject(new Error('connection closed before CONNACK')));
    }), 'MQTT.js to connect');
  } catch (err) {
    client.end(true);
    throw err;
  }
  return {
    client,
    connack,
    received,
    async nextMessage(ms = WAIT_MS) {
      const deadline = Date.now() + ms;
      while (queue.length === 0) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('timed out waiting for a message');
        await within(new Promise<void>((resolve) => { waiter = resolve; }), 'a message', left);
      }
      return queue.shift()!;
    },
    end: () => within(client.endAsync(), 'MQTT.js to end'),
  };
}

export const VERSIONS = [3, 4, 5] as const;

/**
 * Openers whose clients are ended after each test, whatever its outcome: a test that fails
 * half way must not leave a socket that keeps the broker's close (and so the run) waiting.
 * Call it at the top of a test file; it registers its own afterEach.
 */
export function clientsEndedAfterEach(): {
  raw: typeof RawClient.connect;
  rawOpen: typeof RawClient.open;
  js: typeof connectClient;
} {
  const opened: (() => void)[] = [];
  afterEach(() => {
    for (const end of opened.splice(0)) end();
  });
  return {
    async raw(...args) {
      const c = await RawClient.connect(...args);
      opened.push(() => c.destroy());
      return c;
    },
    async rawOpen(...args) {
      const c = await RawClient.open(...args);
      opened.push(() => c.destroy());
      return c;
    },
    async js(...args) {
      const c = await connectClient(...args);
      opened.push(() => c.client.end(true));
      return c;
    },
  };
}

let idSeq = 0;
/** A name no other test in the run uses (client ids, topics). */
export function uid(prefix: string): string {
  return `${prefix}${(++idSeq).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

export interface Got extends ReceivedMessage {
  qos: number;
  retain: boolean;
}

/**
 * What an MQTT.js client receives before a marker it publishes to itself: "nothing else came"
 * without sleeping, as the marker travels the same path behind everything sent before it.
 */
export async function drainUntilMarker(c: TestClient): Promise<Got[]> {
  const topic = uid('zz-marker/');
  await within(c.client.subscribeAsync(topic, { qos: 0 }), 'the marker SUBACK');
  await within(c.client.publishAsync(topic, 'marker', { qos: 0 }), 'the marker publish');
  const out: Got[] = [];
  for (;;) {
    const m = await c.nextMessage();
    if (m.topic === topic) return out;
    out.push({ ...m, qos: m.packet.qos, retain: m.packet.retain });
  }
}
