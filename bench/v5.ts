// The `v5` group: MQTT 5 features end to end, Petrel only, relative figures from one run.
// mqbench (the C generator of the `broker` group) speaks no topic aliases nor shared
// subscriptions, so the load here is generated in this process with raw sockets and our own
// codec: CONNECT / SUBSCRIBE / PUBLISH built with `encode`, what arrives read by a client-side
// Decoder. The broker runs in a child process (bench/servers/petrel.ts, options through
// PETREL_OPTIONS) pinned to core 1; this process pins itself to core 0 for the group's length.
//
//   fan-out  1 publisher -> N subscribers on `bench/#` (N = BENCH_V5_SUBS, default 200), QoS 0,
//            64-byte payloads over 50 topics: subscribers without Topic Alias Maximum (plain),
//            with Topic Alias Maximum 10, the same with the broker's outboundTopicAliases off,
//            and with aliases on a skewed topic mix (90% of messages on 8 hot topics).
//   shared   1 publisher -> `$share/g/bench/#` with 10 members, strategies round-robin and
//            hash, against 10 plain subscribers on `bench/#`.
//
// Each case: a fresh broker, subscribers connected and subscribed, then the publisher writes as
// fast as the broker takes it (waiting for 'drain' whenever write() says so, and never more than
// a window of messages ahead of the slowest subscriber) for a warm-up second and BENCH_DURATION
// seconds measured (default 5); then it stops, the subscribers get what is still in flight, and
// what never arrived is counted as lost.
//
// Environment: BENCH_DURATION (measured seconds per case, default 5), BENCH_V5_SUBS (fan-out
// subscribers, default 200), BENCH_V5_WINDOW (messages the publisher may run ahead of the
// slowest subscriber, default 16384; 0 for open loop).

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrokerOptions } from '../src/index.js';
import {
  Decoder, encode, PacketType,
  type ConnackPacket, type ConnectProperties, type Packet, type SubackPacket,
} from '../src/protocol/index.js';
import { renderTable, type BenchGroup, type GroupOptions, type GroupReport } from './harness.js';
import { cpuSeconds, pinned, pinSelf, stop } from './processes.js';

const here = dirname(fileURLToPath(import.meta.url));

const PAYLOAD_BYTES = 64;
const TOPIC_COUNT = 50;
/** Every topic has the same length (32 bytes), so byte counts differ only by the aliases. */
const TOPICS = Array.from({ length: TOPIC_COUNT }, (_, i) =>
  `bench/site-${i % 5}/device-${String(i).padStart(2, '0')}/telemetry`);
const HOT_TOPICS = 8;
const HOT_SHARE = 0.9;
const ALIAS_MAXIMUM = 10;
const SHARED_MEMBERS = 10;
/**
 * Packets per write() of the publisher, and the most writes per event-loop turn: it writes until
 * write() says the socket is full (then waits for 'drain'), or this many, then yields.
 */
const BATCH_PACKETS = 128;
const BATCHES_PER_TURN = 64;
/** Distinct pre-built batches the publisher cycles through (the topic sequence repeats after). */
const BATCH_RING = 256;
const WARMUP_MS = 1000;
/** Messages the publisher may be ahead of the slowest subscriber (BENCH_V5_WINDOW; 0: no limit). */
const DEFAULT_WINDOW = 16384;
/** Longest wait for in-flight messages once the publisher has stopped. */
const SETTLE_MAX_MS = 5000;
const CASE_TIMEOUT_MS = 45_000;

type TopicMix = 'uniform' | 'hot';

interface CaseDef {
  section: 'fan-out' | 'shared';
  name: string;
  /** The case of the same section the ratios are taken against (its own name for the baseline). */
  baseline: string;
  broker: BrokerOptions;
  subscribers: number;
  filter: string;
  /** Topic Alias Maximum the subscribers put in CONNECT; none when undefined. */
  aliasMaximum?: number;
  topics: TopicMix;
  /** Each message goes to one subscriber (shared) rather than to all of them. */
  shared: boolean;
}

interface CaseResult {
  section: string;
  name: string;
  subscribers: number;
  brokerOptions: BrokerOptions;
  aliasMaximum: number | null;
  topics: TopicMix;
  windowSeconds: number;
  /**
   * Messages the publisher wrote per second in the window. Not the rate through the broker:
   * socket buffers hold megabytes, so writes and deliveries drift apart over seconds.
   */
  writtenPerSec: number;
  /** Distinct messages through the broker per second: deliveries/s over the subscribers each message goes to. */
  messagesPerSec: number;
  /** PUBLISH packets the subscribers received per second in the window, all together. */
  deliveriesPerSec: number;
  /** Broker CPU time per delivery in the window, in microseconds. */
  brokerUsPerDelivery: number;
  /** Bytes received by subscribers per PUBLISH over the whole run (exact: counted after settling). */
  bytesPerDelivery: number;
  /** Share of deliveries that came as an alias with an empty topic. */
  aliasHitRate: number;
  /** Deliveries expected (published x subscribers, or published for shared) and not received. */
  lost: number;
  /** False when messages were still arriving when the wait for them ran out: `lost` then counts some still in flight. */
  settled: boolean;
  lossPct: number;
  /** Per-subscriber deliveries per second in the window: min and max (the spread over shared members). */
  perSubscriberMin: number;
  perSubscriberMax: number;
  /** Per-subscriber deliveries in the window. */
  perSubscriber: number[];
  /** CPU time over wall time in the window, in % of one core. */
  brokerCpuPct: number;
  loadCpuPct: number;
  /** Protocol problems seen by the subscribers (unknown alias, alias above the maximum, decode errors). */
  errors: string[];
  /** Times the publisher waited for the window to open, and for its socket to drain. */
  windowWaits: number;
  drainWaits: number;
}

function buildCases(n: number): CaseDef[] {
  const fan = (name: string, extra: Partial<CaseDef>): CaseDef => ({
    section: 'fan-out', name, baseline: 'plain', broker: {}, subscribers: n, filter: 'bench/#',
    topics: 'uniform', shared: false, ...extra,
  });
  const sh = (name: string, extra: Partial<CaseDef>): CaseDef => ({
    section: 'shared', name, baseline: `${SHARED_MEMBERS} plain subscribers`, broker: {}, subscribers: SHARED_MEMBERS,
    filter: 'bench/#', topics: 'uniform', shared: false, ...extra,
  });
  return [
    fan('plain', {}),
    fan(`aliases (max ${ALIAS_MAXIMUM})`, { aliasMaximum: ALIAS_MAXIMUM }),
    fan(`aliases asked, broker outboundTopicAliases: false`, { aliasMaximum: ALIAS_MAXIMUM, broker: { outboundTopicAliases: false } }),
    fan(`aliases (max ${ALIAS_MAXIMUM}), ${HOT_SHARE * 100}% on ${HOT_TOPICS} hot topics`, { aliasMaximum: ALIAS_MAXIMUM, topics: 'hot' }),
    sh(`${SHARED_MEMBERS} plain subscribers`, {}),
    sh('$share round-robin', { filter: '$share/g/bench/#', shared: true, broker: { sharedSubscriptionStrategy: 'round-robin' } }),
    sh('$share hash', { filter: '$share/g/bench/#', shared: true, broker: { sharedSubscriptionStrategy: 'hash' } }),
  ];
}

// --- the broker ------------------------------------------------------------------------------

interface RunningBroker {
  child: ChildProcess;
  port: number;
}

let nextPort = 24000 + Math.floor(Math.random() * 2000);

function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const port = nextPort++;
  const [cmd, args] = pinned(1, [process.execPath, join(here, 'servers', 'petrel.js'), String(port)]);
  const child = spawn(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PETREL_OPTIONS: JSON.stringify(options) },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => { fail(new Error('broker printed no "ready" within 10 s')); }, 10_000);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${e.message}${err ? `: ${err.trim().slice(0, 500)}` : ''}`));
    };
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) {
        clearTimeout(timer);
        resolve({ child, port });
      }
    });
    child.once('exit', (code, signal) => fail(new Error(`broker exited (${code ?? signal}) before it was ready`)));
  });
}

// --- clients ---------------------------------------------------------------------------------

/** One MQTT 5 connection: counts the PUBLISH packets and bytes it receives, resolves aliases. */
class Client {
  readonly socket: net.Socket;
  private readonly decoder = new Decoder({ side: 'client', protocolVersion: 5 });
  private waiter: { resolve(p: Packet): void; reject(e: Error): void } | undefined;
  private failure: Error | undefined;
  /** Alias number to topic, as the broker set them on this connection. */
  private readonly aliases = new Map<number, string>();
  messages = 0;
  bytes = 0;
  aliasHits = 0;
  readonly errors: string[] = [];
  /** Called after each chunk's packets have been counted. */
  onProgress: (() => void) | undefined;

  constructor(port: number, private readonly aliasMaximum: number) {
    this.socket = net.connect({ port, host: '127.0.0.1' });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (e) => { this.note(`socket error: ${e.message}`); this.fail(e); });
    // close() removes this listener first: a close that comes here is the broker's doing.
    this.socket.on('close', () => { this.note('connection closed by the broker'); this.fail(new Error('connection closed')); });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(e);
  }

  private onData(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.decoder.push(chunk);
    try {
      for (let p = this.decoder.next(); p !== undefined; p = this.decoder.next()) this.onPacket(p);
    } catch (e) {
      this.note(`decode: ${String(e)}`);
      this.socket.destroy();
    }
    this.onProgress?.();
  }

  private onPacket(p: Packet): void {
    if (p.type === PacketType.PUBLISH) {
      this.messages++;
      const alias = p.properties?.topicAlias;
      if (alias === undefined) {
        if (p.topic === '') this.note('PUBLISH with neither topic nor alias');
        return;
      }
      // [MQTT-3.3.2-9] never above what we asked for (0 when we asked for none).
      if (alias > this.aliasMaximum) this.note(`alias ${alias} above our maximum ${this.aliasMaximum}`);
      if (p.topic === '') {
        this.aliasHits++;
        if (!this.aliases.has(alias)) this.note(`unknown alias ${alias}`);
      } else {
        this.aliases.set(alias, p.topic);
      }
      return;
    }
    const w = this.waiter;
    if (w === undefined) {
      this.note(`unexpected ${p.type === PacketType.DISCONNECT ? `DISCONNECT 0x${p.reasonCode.toString(16)}` : `packet type ${p.type}`}`);
      return;
    }
    this.waiter = undefined;
    w.resolve(p);
  }

  private note(error: string): void {
    if (this.errors.length < 5) this.errors.push(error);
  }

  /** The next packet other than PUBLISH. */
  private nextControl(what: string): Promise<Packet> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiter = undefined; reject(new Error(`no ${what} within 10 s`)); }, 10_000);
      this.waiter = {
        resolve: (p) => { clearTimeout(timer); resolve(p); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
    });
  }

  async connect(clientId: string): Promise<void> {
    const properties: ConnectProperties = {};
    if (this.aliasMaximum > 0) properties.topicAliasMaximum = this.aliasMaximum;
    this.socket.write(encode({ type: PacketType.CONNECT, protocolVersion: 5, clean: true, keepAlive: 0, clientId, properties }, 5));
    const p = await this.nextControl('CONNACK');
    if (p.type !== PacketType.CONNACK || (p as ConnackPacket).reasonCode !== 0) {
      throw new Error(`CONNECT refused: ${JSON.stringify(p)}`);
    }
  }

  async subscribe(filter: string): Promise<void> {
    this.socket.write(encode({
      type: PacketType.SUBSCRIBE, packetId: 1,
      subscriptions: [{ filter, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    }, 5));
    const p = await this.nextControl('SUBACK');
    if (p.type !== PacketType.SUBACK || (p as SubackPacket).reasonCodes[0] !== 0) {
      throw new Error(`SUBSCRIBE ${filter} refused: ${JSON.stringify(p)}`);
    }
  }

  resetCounters(): void {
    this.messages = 0;
    this.bytes = 0;
    this.aliasHits = 0;
  }

  close(): void {
    this.socket.removeAllListeners('close');
    this.socket.destroy();
  }
}

/** A deterministic generator, so every case sees the same topic sequence. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The publisher's pre-encoded batches: BATCH_PACKETS PUBLISH packets each, topics drawn by `mix`. */
function buildBatches(mix: TopicMix): Buffer[] {
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x5a);
  const packets = TOPICS.map((topic) => encode({
    type: PacketType.PUBLISH, topic, payload, qos: 0, retain: false, dup: false, packetId: 0,
  }, 5));
  const rnd = mulberry32(0x5eed);
  const pick = (): number => {
    if (mix === 'uniform') return Math.floor(rnd() * TOPIC_COUNT);
    return rnd() < HOT_SHARE
      ? Math.floor(rnd() * HOT_TOPICS)
      : HOT_TOPICS + Math.floor(rnd() * (TOPIC_COUNT - HOT_TOPICS));
  };
  return Array.from({ length: BATCH_RING }, () =>
    Buffer.concat(Array.from({ length: BATCH_PACKETS }, () => packets[pick()])));
}

/**
 * Writes batches as fast as the socket takes them (waiting for 'drain' when write() says it is
 * full), yielding every few writes, until stopped; and, when `window` > 0, never more than
 * `window` messages ahead of what `received()` says the subscribers have (the slowest one, or all
 * members together for $share). The window keeps the load closed-loop: without it, 200 loopback
 * sockets each buffer megabytes while this process decodes slower than the broker sends, TCP
 * goes to zero windows and probes, and both sides idle for seconds at a time.
 */
class Publisher {
  published = 0;
  /** Times the publisher waited on the window, and on 'drain'. */
  windowWaits = 0;
  drainWaits = 0;
  private running = false;
  private waitingForWindow = false;
  private index = 0;
  private readonly pumpBound = (): void => this.pump();

  constructor(
    private readonly client: Client,
    private readonly batches: Buffer[],
    private readonly window: number,
    private readonly received: () => number,
  ) {}

  start(): void {
    this.running = true;
    this.pump();
  }

  stop(): void {
    this.running = false;
    this.waitingForWindow = false;
    this.client.socket.removeListener('drain', this.pumpBound);
  }

  /** Subscribers call this as messages arrive: resumes a publisher held by the window once half of it is free. */
  progress(): void {
    if (this.waitingForWindow && this.published - this.received() <= this.window / 2) {
      this.waitingForWindow = false;
      setImmediate(this.pumpBound);
    }
  }

  private pump(): void {
    const socket = this.client.socket;
    for (let i = 0; i < BATCHES_PER_TURN; i++) {
      if (!this.running || socket.destroyed) return;
      if (this.window > 0 && this.published - this.received() >= this.window) {
        this.waitingForWindow = true;
        this.windowWaits++;
        return;
      }
      const ok = socket.write(this.batches[this.index]);
      this.index = (this.index + 1) % this.batches.length;
      this.published += BATCH_PACKETS;
      if (!ok) {
        this.drainWaits++;
        socket.once('drain', this.pumpBound);
        return;
      }
    }
    // Let the subscribers' reads (same event loop) have their turn.
    setImmediate(this.pumpBound);
  }
}

// --- one case --------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function inBatches<T>(items: T[], size: number, f: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(f));
}

async function runCase(c: CaseDef, durationMs: number, window: number, log: (line: string) => void): Promise<CaseResult> {
  const broker = await startBroker(c.broker);
  const clients: Client[] = [];
  let publisher: Publisher | undefined;
  try {
    const subs = Array.from({ length: c.subscribers }, () => new Client(broker.port, c.aliasMaximum ?? 0));
    clients.push(...subs);
    await inBatches(subs.map((s, i) => [s, i] as const), 50, async ([s, i]) => {
      await s.connect(`v5-sub-${i}`);
      await s.subscribe(c.filter);
    });
    const pubClient = new Client(broker.port, 0);
    clients.push(pubClient);
    await pubClient.connect('v5-pub');
    // The window is per subscriber: ahead of the slowest one, or of all $share members together
    // (each of which gets one message in `subscribers`).
    const subscribersHave = c.shared
      ? () => { let n = 0; for (const s of subs) n += s.messages; return n; }
      : () => { let n = Infinity; for (const s of subs) if (s.messages < n) n = s.messages; return n; };
    const pub = new Publisher(pubClient, buildBatches(c.topics), c.shared ? window * c.subscribers : window, subscribersHave);
    publisher = pub;
    for (const s of subs) s.onProgress = () => pub.progress();

    for (const s of subs) s.resetCounters();
    const snapshot = (): { published: number; received: number[]; brokerCpu: number; loadCpu: number; at: number } => ({
      published: publisher!.published,
      received: subs.map((s) => s.messages),
      brokerCpu: cpuSeconds(broker.child.pid!),
      loadCpu: ((u) => (u.user + u.system) / 1e6)(process.cpuUsage()),
      at: performance.now(),
    });
    publisher.start();
    await sleep(WARMUP_MS);
    const a = snapshot();
    await sleep(durationMs);
    const b = snapshot();
    publisher.stop();

    // Let what is in flight arrive: done when nothing more came for 300 ms.
    const total = (): number => subs.reduce((n, s) => n + s.messages, 0);
    const settleStart = performance.now();
    let last = total();
    let quiet = 0;
    while (quiet < 3 && performance.now() - settleStart < SETTLE_MAX_MS) {
      await sleep(100);
      const now = total();
      quiet = now === last ? quiet + 1 : 0;
      last = now;
    }
    const settled = quiet >= 3;

    const seconds = (b.at - a.at) / 1000;
    const perSubscriber = b.received.map((n, i) => n - a.received[i]);
    const windowDeliveries = perSubscriber.reduce((x, y) => x + y, 0);
    const received = total();
    const bytes = subs.reduce((n, s) => n + s.bytes, 0);
    const expected = c.shared ? publisher.published : publisher.published * c.subscribers;
    const errors = [...new Set(clients.flatMap((cl) => cl.errors))];
    if (errors.length > 0) log(`v5: ${c.section} ${c.name}: ${errors.join('; ')}`);
    const brokerCpu = b.brokerCpu - a.brokerCpu;
    return {
      section: c.section,
      name: c.name,
      subscribers: c.subscribers,
      brokerOptions: c.broker,
      aliasMaximum: c.aliasMaximum ?? null,
      topics: c.topics,
      windowSeconds: seconds,
      writtenPerSec: (b.published - a.published) / seconds,
      messagesPerSec: windowDeliveries / seconds / (c.shared ? 1 : c.subscribers),
      deliveriesPerSec: windowDeliveries / seconds,
      brokerUsPerDelivery: windowDeliveries > 0 ? (brokerCpu / windowDeliveries) * 1e6 : 0,
      bytesPerDelivery: received > 0 ? bytes / received : 0,
      aliasHitRate: received > 0 ? subs.reduce((n, s) => n + s.aliasHits, 0) / received : 0,
      lost: expected - received,
      settled,
      lossPct: expected > 0 ? ((expected - received) / expected) * 100 : 0,
      perSubscriberMin: Math.min(...perSubscriber) / seconds,
      perSubscriberMax: Math.max(...perSubscriber) / seconds,
      perSubscriber,
      brokerCpuPct: (brokerCpu / seconds) * 100,
      loadCpuPct: ((b.loadCpu - a.loadCpu) / seconds) * 100,
      errors,
      windowWaits: publisher.windowWaits,
      drainWaits: publisher.drainWaits,
    };
  } finally {
    publisher?.stop();
    for (const cl of clients) cl.close();
    await stop(broker.child);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// --- the group -------------------------------------------------------------------------------

const fmt = (n: number): string => n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);

export const v5Group: BenchGroup = {
  name: 'v5',
  description: 'MQTT 5 end to end, Petrel only: outbound topic aliases and shared subscriptions',
  async run(options: GroupOptions): Promise<GroupReport> {
    const report: GroupReport = { group: 'v5', oursLabel: 'petrel', theirsLabel: '-', results: [], notes: [] };
    const durationMs = Number(process.env.BENCH_DURATION ?? 5) * 1000;
    const n = Number(process.env.BENCH_V5_SUBS ?? 200);
    const window = Number(process.env.BENCH_V5_WINDOW ?? DEFAULT_WINDOW);
    if (!(durationMs > 0) || !(Number.isInteger(n) && n > 0) || !(Number.isInteger(window) && window >= 0)) {
      throw new Error('v5: BENCH_DURATION must be > 0, BENCH_V5_SUBS an integer > 0, BENCH_V5_WINDOW an integer >= 0');
    }
    const filter = options.filter?.toLowerCase();
    const cases = buildCases(n).filter((c) => filter === undefined || `${c.section} ${c.name}`.toLowerCase().includes(filter));

    const unpin = pinSelf(0);
    const results: CaseResult[] = [];
    try {
      for (const [i, c] of cases.entries()) {
        const t0 = performance.now();
        try {
          const r = await withTimeout(runCase(c, durationMs, window, options.log), CASE_TIMEOUT_MS, c.name);
          results.push(r);
          options.log(`  [${i + 1}/${cases.length}] ${c.section} ${c.name}: ${fmt(r.deliveriesPerSec)} deliveries/s, ` +
            `${r.bytesPerDelivery.toFixed(1)} B/delivery (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
        } catch (err) {
          options.log(`  [${i + 1}/${cases.length}] ${c.section} ${c.name}: failed: ${String(err)}`);
        }
      }
    } finally {
      unpin?.();
    }

    const rows: string[][] = [];
    let section: string | undefined;
    for (const r of results) {
      if (r.section !== section) {
        if (section !== undefined) rows.push(['']);
        const def = cases.find((c) => c.section === r.section)!;
        rows.push([r.section === 'fan-out'
          ? `fan-out, 1 pub -> ${def.subscribers} sub, QoS 0:`
          : `shared, 1 pub -> ${SHARED_MEMBERS} sub, QoS 0:`]);
        section = r.section;
      }
      const def = cases.find((c) => c.section === r.section && c.name === r.name)!;
      const base = results.find((x) => x.section === r.section && x.name === def.baseline);
      const ratio = (x: number, y: number | undefined): string => y !== undefined && y > 0 ? `${(x / y).toFixed(2)}x` : '';
      rows.push([
        `  ${r.name}`,
        fmt(r.messagesPerSec),
        fmt(r.deliveriesPerSec),
        ratio(r.deliveriesPerSec, base?.deliveriesPerSec),
        r.bytesPerDelivery.toFixed(1),
        ratio(r.bytesPerDelivery, base?.bytesPerDelivery),
        r.aliasMaximum === null ? '' : `${(r.aliasHitRate * 100).toFixed(0)}%`,
        r.brokerUsPerDelivery.toFixed(2),
        ratio(r.brokerUsPerDelivery, base?.brokerUsPerDelivery),
        `${r.brokerCpuPct.toFixed(0)}% / ${r.loadCpuPct.toFixed(0)}%`,
        `${r.lost > 0 ? `${r.lost} (${r.lossPct.toFixed(1)}%)` : '0'}${r.settled ? '' : '*'}`,
        `${fmt(r.perSubscriberMin)} / ${fmt(r.perSubscriberMax)}`,
      ]);
    }
    report.table = results.length === 0 ? 'no case ran' : renderTable(
      ['case', 'msgs/s', 'deliveries/s', 'x plain', 'bytes/delivery', 'x plain', 'alias hits', 'broker us/delivery', 'x plain',
        'cpu broker / load', 'lost', 'per sub/s min / max'],
      rows,
    );
    const pinning = unpin === undefined ? 'not pinned (no taskset)' : 'broker pinned to core 1, load (this process) to core 0';
    report.notes.push(
      `MQTT 5, QoS 0, ${PAYLOAD_BYTES}-byte payloads, ${TOPIC_COUNT} topics of ${TOPICS[0].length} bytes under bench/ (uniformly drawn unless said), ` +
        `${WARMUP_MS / 1000} s warm-up then ${durationMs / 1000} s measured, one run per case, a fresh broker per case; ${pinning}.`,
      'load = this process: one publisher writing pre-encoded batches as fast as the socket takes them (waiting for drain), ' +
        `at most ${window > 0 ? `${window} messages per subscriber` : 'unlimited messages'} ahead of the slowest subscriber, and every ` +
        'subscriber decoding with a client-side Decoder, on one core. Where "load" is near 100% the generator is the limit, not the ' +
        'broker: deliveries/s then measure the generator, and "broker us/delivery" (broker CPU time over deliveries in the window) is the ' +
        'figure that compares the broker\'s work between cases; it also rises when the broker idles between smaller batches, and for ' +
        '$share it carries the whole cost of taking in each message (one delivery per message instead of 10).',
      'msgs/s: distinct messages through the broker per second (deliveries/s over the subscribers each goes to); deliveries/s: PUBLISH ' +
        'packets received by all subscribers together per second; x plain: this case over the first (plain) case of its section. ' +
        'bytes/delivery: bytes the subscribers received over PUBLISH received, whole run (exact).',
      `alias hits: deliveries that came as a known alias with an empty topic. The broker keeps at most ${ALIAS_MAXIMUM} aliases per ` +
        `connection, least recently used reassigned: with ${TOPIC_COUNT} topics drawn uniformly about ${ALIAS_MAXIMUM}/${TOPIC_COUNT} of ` +
        'lookups hit; a hit saves the topic (less the 3-byte alias property), a miss costs the 3 bytes on top of the topic.',
      'lost: published x subscribers (x 1 for $share) minus received, once the subscribers have read what was in flight: QoS 0 ' +
        `dropped for a subscriber behind for longer than slowConsumerTimeout (* : still arriving after ${SETTLE_MAX_MS / 1000} s, so partly in flight).`,
      `shared: each message goes to one of ${SHARED_MEMBERS} members, so there deliveries/s = msgs/s; the plain case delivers every ` +
        `message ${SHARED_MEMBERS} times. per sub/s min / max: deliveries per second of the slowest and busiest subscriber ` +
        '(hash spreads by topic, so its split follows how the 50 topics hash onto the members).',
    );
    const errs = results.filter((r) => r.errors.length > 0);
    for (const r of errs) report.notes.push(`${r.section} ${r.name}: protocol problems: ${r.errors.join('; ')}`);
    report.data = results;
    return report;
  },
};
