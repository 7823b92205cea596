// The `soak` group: 1,000 publishers flood one slow subscriber for a bounded time while a healthy
// client on another topic checks that the broker still serves it. Petrel: bench/servers/petrel.ts
// with a 256 MiB memoryBudget (BENCH_SOAK_BUDGET_MB), durability none, maxConnectionRate 0 and a per-session queue of
// PETREL_MAX_QUEUED, so that the budget, not the queue limit, is what binds. Mosquitto, for
// comparison: max_queued_messages at its default. One broker at a time, pinned to core 1; this
// process and the load generator share core 0, the generator niced so the probes here come first.
//
//   flood    a child process (this file, `--generate`): PUBLISHERS raw 3.1.1 connections writing
//            pre-encoded PUBLISH of PAYLOAD_BYTES to soak/flood as fast as the broker takes them,
//            each a bounded window ahead of what the broker has acknowledged (see generate).
//   slow     one persistent session (clean false) on soak/flood at QoS 1 that reads one socket
//            chunk (at most 64 KiB) every SLOW_READ_MS and acknowledges what it read.
//   healthy  one client on soak/ping at QoS 1 that publishes to itself every PING_MS and times
//            publish -> delivery; a ping not back within PING_LOST_MS counts as lost.
//   memory   the broker's VmRSS every SAMPLE_MS; the baseline is RSS with every client connected,
//            before the flood. Drop counts come from $SYS at the end (both brokers publish it).
//            Petrel's metrics endpoint (drops by reason, budget use, heap) is asked for through
//            PETREL_OPTIONS and read when it answers: bench/servers/petrel.ts does not start it
//            today, and those columns say n/a.
//
// Flood length: --time=ms when given, else 30 s. Budget: BENCH_SOAK_BUDGET_MB (MiB), else 256.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BrokerOptions } from '../src/index.js';
import { Decoder, encode, PacketType, type Packet } from '../src/protocol/index.js';
import { DEFAULT_TIMING, renderTable, type BenchGroup, type GroupOptions, type GroupReport } from './harness.js';
import { cpuSeconds, freePort, machineCpuSeconds, pinned, pinSelf, procStatusKb, sleep, stop } from './processes.js';

const self = fileURLToPath(import.meta.url);
const here = dirname(self);

const [PUBLISHERS, PAYLOAD_BYTES, QOS0_BATCH, QOS1_WINDOW] = [1000, 256, 32, 16];
/** Petrel's memoryBudget: BENCH_SOAK_BUDGET_MB, default 256 MiB (at 64 MiB, V8's own working set of ~30 MiB under a flood is half the budget again). */
const MEMORY_BUDGET = Number(process.env.BENCH_SOAK_BUDGET_MB ?? 256) * 2 ** 20;
const DEFAULT_FLOOD_MS = 30_000;
const [SLOW_READ_MS, PING_MS, PING_LOST_MS, SAMPLE_MS] = [200, 100, 5000, 500];
const [FLOOD_TOPIC, PING_TOPIC, MARK_TOPIC] = ['soak/flood', 'soak/ping', 'soak/mark'];
/** Mosquitto's own default, written out so the comparison says what it ran with. */
const MOSQUITTO_MAX_QUEUED = 1000;
const MiB = 2 ** 20;
/** Over the budget: a message costs the budget about 330 bytes here (payload, topic, 64). */
const PETREL_MAX_QUEUED = 1_000_000;

type BrokerName = 'petrel' | 'mosquitto';
type Qos = 0 | 1;

// --- processes (the shared helpers are in processes.ts) ------------------------------------------

/**
 * Starts counting; the function returned gives % of one core since then for the broker, the
 * generator and everything else. The machine may be shared: `other` shows whether the broker
 * had its core to itself.
 */
function cpuMeter(brokerPid: number, generatorPid: number): () => { broker: number; generator: number; other: number } {
  const snap = (): number[] => [performance.now() / 1000, cpuSeconds(brokerPid), cpuSeconds(generatorPid), machineCpuSeconds()];
  const a = snap();
  return () => {
    const [s, broker, generator, all] = snap().map((x, i) => i === 0 ? x - a[0] : (x - a[i]) * 100);
    return { broker: broker / s, generator: generator / s, other: Math.max(0, (all - broker - generator) / s) };
  };
}

const rssBytes = (pid: number): number => procStatusKb(pid, 'VmRSS') * 1024;

// --- the load generator (child process) ----------------------------------------------------------

/**
 * Opens the publishers, says `connected N`, floods on `go` and, on `stop`, resets every socket and
 * prints JSON: `published`, messages the broker has read (acknowledged, or ahead of an
 * acknowledged marker). Each publisher keeps two batches in flight and writes one again when the
 * broker has acknowledged it: QoS 1, eight PUBLISH (packet ids 1-8, 9-16); QoS 0, QOS0_BATCH
 * PUBLISH then one QoS 1 marker on MARK_TOPIC (no subscriber), whose PUBACK says the broker has
 * read the batch. Without that window a QoS 0 flood is bounded only by the kernel: on loopback
 * 1,000 sockets buffer over a gigabyte, TCP memory pressure sets in, and the kernel, not the
 * broker, is measured. Everything a broker sends a publisher here is a 4-byte CONNACK or PUBACK,
 * so acknowledgements are counted by bytes rather than decoded.
 */
async function generate(port: number, qos: Qos, count: number): Promise<void> {
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61);
  const publish = (topic: string, q: Qos, packetId: number): Buffer =>
    encode({ type: PacketType.PUBLISH, topic, payload: q === qos ? payload : Buffer.alloc(0), qos: q, retain: false, dup: false, packetId }, 4);
  const [perBatch, acksPerBatch] = qos === 0 ? [QOS0_BATCH, 1] : [QOS1_WINDOW / 2, QOS1_WINDOW / 2];
  const batches = [0, 1].map((b) => Buffer.concat(qos === 0
    ? [...Array.from({ length: perBatch }, () => publish(FLOOD_TOPIC, 0, 0)), publish(MARK_TOPIC, 1, b + 1)]
    : Array.from({ length: perBatch }, (_, i) => publish(FLOOD_TOPIC, 1, b * perBatch + i + 1))));
  const totals = { published: 0, errors: 0 };
  let running = false;
  const publishers: { s: net.Socket; refill: () => void }[] = [];

  const open = (i: number): Promise<void> => new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }).setNoDelay(true);
    let seen = 0;
    let written = 0;
    const refill = (): void => {
      const done = Math.floor(((seen >> 2) - 1) / acksPerBatch);
      while (running && written < done + 2) s.write(batches[written++ % 2]);
    };
    s.on('error', () => { totals.errors++; reject(new Error(`publisher ${i}: connection failed`)); });
    s.on('data', (d: Buffer) => {
      const before = seen;
      seen += d.length;
      if (before < 4) {
        if (seen >= 4) { publishers.push({ s, refill }); resolve(); }
        return;
      }
      // A QoS 0 batch counts once its marker is acknowledged, a QoS 1 message once it is.
      totals.published += ((seen >> 2) - (before >> 2)) * (qos === 0 ? perBatch : 1);
      refill();
    });
    s.write(encode({ type: PacketType.CONNECT, protocolVersion: 4, clean: true, keepAlive: 0, clientId: `soak-pub-${i}` }, 4));
  });
  // A hundred at a time: the listen backlog is not what this measures.
  for (let i = 0; i < count; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => open(i + j)));
  }
  process.stdout.write(`connected ${publishers.length}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'go') {
      running = true;
      for (const p of publishers) p.refill();
    } else if (line === 'stop') {
      running = false;
      process.stdout.write(`${JSON.stringify(totals)}\n`);
      for (const { s } of publishers) s.resetAndDestroy();
      process.exit(0);
    }
  }
}

// --- the measuring clients ----------------------------------------------------------------------

/** A 3.1.1 client on our codec: CONNECT and SUBSCRIBE, then every packet goes to `onPacket`. */
class Client {
  readonly socket: net.Socket;
  private readonly decoder = new Decoder({ side: 'client', protocolVersion: 4 });
  onPacket: (p: Packet) => void = () => undefined;
  onChunk: () => void = () => undefined;

  private constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1' }).setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => {
      this.onChunk();
      this.decoder.push(chunk);
      for (let p = this.decoder.next(); p !== undefined; p = this.decoder.next()) this.onPacket(p);
    });
  }

  /** `then` gets what follows SUBACK, retained messages in the same chunk included. */
  static open(port: number, clientId: string, clean: boolean, filter: string, qos: Qos, then: (p: Packet) => void = () => undefined): Promise<Client> {
    const c = new Client(port);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { c.socket.destroy(); reject(new Error(`${clientId}: no SUBACK within 5 s`)); }, 5000);
      c.socket.once('error', (e) => { clearTimeout(timer); reject(e); });
      c.onPacket = (p) => {
        if (p.type === PacketType.CONNACK && p.reasonCode !== 0) reject(new Error(`${clientId}: CONNACK ${p.reasonCode}`));
        if (p.type === PacketType.SUBACK) { clearTimeout(timer); c.onPacket = then; resolve(c); }
      };
      c.socket.on('error', () => undefined);
      c.socket.write(Buffer.concat([
        encode({ type: PacketType.CONNECT, protocolVersion: 4, clean, keepAlive: 0, clientId }, 4),
        encode({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }] }, 4),
      ]));
    });
  }
}

const puback = (packetId: number): Buffer => encode({ type: PacketType.PUBACK, packetId, reasonCode: 0 }, 4);

/** Retries the first connection while the broker starts. */
async function openWhenUp(...args: Parameters<typeof Client.open>): Promise<Client> {
  for (const deadline = Date.now() + 10_000; ; await sleep(100)) {
    try {
      return await Client.open(...args);
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
}

/** The retained $SYS values: collected for 700 ms by a fresh subscriber. */
async function readSys(port: number): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  const c = await Client.open(port, 'soak-sys', true, '$SYS/broker/#', 0, (p) => {
    if (p.type === PacketType.PUBLISH) values.set(p.topic, p.payload.toString());
  });
  await sleep(700);
  c.socket.destroy();
  return values;
}

/** Petrel's metrics as `name{labels}` -> value, or undefined when the endpoint does not answer. */
async function scrapeMetrics(port: number | undefined): Promise<Map<string, number> | undefined> {
  if (port === undefined) return undefined;
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    const m = new Map<string, number>();
    for (const line of (await res.text()).split('\n')) {
      const x = /^(petrel_\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
      if (x !== null) m.set(x[1], Number(x[2]));
    }
    return m;
  } catch {
    return undefined;
  }
}

/** The non-zero series of a metric with one label, by label value. */
function byLabel(metrics: Map<string, number> | undefined, name: string): Record<string, number> | undefined {
  if (metrics === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of metrics) {
    const m = new RegExp(`^${name}\\{\\w+="([^"]+)"\\}$`).exec(k);
    if (m !== null && v > 0) out[m[1]] = v;
  }
  return out;
}

// --- one case ------------------------------------------------------------------------------------

interface Broker { child: ChildProcess; port: number; metricsPort: number | undefined; stderr: string }

async function startBroker(name: BrokerName, dir: string): Promise<Broker> {
  const port = await freePort();
  let argv: string[];
  let env = process.env;
  let metricsPort: number | undefined;
  if (name === 'petrel') {
    metricsPort = await freePort();
    const options: BrokerOptions = {
      durability: 'none', memoryBudget: MEMORY_BUDGET, maxConnectionRate: 0, sysInterval: 1, maxQueuedMessages: PETREL_MAX_QUEUED,
      metrics: { port: metricsPort, host: '127.0.0.1' },
    };
    argv = [process.execPath, join(here, 'servers', 'petrel.js'), String(port)];
    env = { ...process.env, PETREL_OPTIONS: JSON.stringify(options) };
  } else {
    const conf = join(dir, 'mosquitto.conf');
    // set_tcp_nodelay: Petrel disables Nagle; with it on, the ping's delivery can wait for a delayed ACK.
    writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false',
      `max_queued_messages ${MOSQUITTO_MAX_QUEUED}`, 'sys_interval 1', 'set_tcp_nodelay true', ''].join('\n'));
    argv = [mosquittoBin()!, '-c', conf];
  }
  const [cmd, args] = pinned(1, argv);
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  const b: Broker = { child, port, metricsPort, stderr: '' };
  child.stderr!.on('data', (d: Buffer) => { b.stderr = (b.stderr + d.toString()).slice(-2000); });
  return b;
}

const mosquittoBin = (): string | undefined => ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));

interface Generator { child: ChildProcess; lines: AsyncIterator<string> }

async function startGenerator(port: number, qos: Qos): Promise<Generator> {
  // Niced: the probes in this process share core 0 with it and must not queue behind it.
  const [cmd, args] = pinned(0, ['nice', '-n', '10', process.execPath, self, '--generate', String(port), String(qos), String(PUBLISHERS)]);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done === true || !/^connected \d+$/.test(first.value)) throw new Error(`load generator: ${first.value ?? 'exited'}`);
  return { child, lines };
}

interface Latency { p50: number; p99: number; max: number; lost: number; sent: number }

function latency(sentAt: number[], rtt: (number | undefined)[]): Latency {
  const got = rtt.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  const at = (q: number): number => got.length === 0 ? NaN : got[Math.min(got.length - 1, Math.floor(q * got.length))];
  const lost = sentAt.filter((_, i) => rtt[i] === undefined || rtt[i]! > PING_LOST_MS).length;
  return { p50: at(0.5), p99: at(0.99), max: got.length === 0 ? NaN : got[got.length - 1], lost, sent: sentAt.length };
}

interface CaseResult {
  variant: string; broker: BrokerName; floodMs: number;
  published: number; publisherErrors: number; deliveredToSlow: number;
  dropped: number; droppedBy: Record<string, number> | undefined; limitHits: Record<string, number> | undefined;
  rssIdle: number; rssBaseline: number; rssMax: number; rssEnd: number; rssSamples: number[];
  heapUsedMax: number | undefined; budgetUsedMax: number | undefined;
  /** % of one core over the flood: the broker, the generator, and every other process (this one included). */
  cpu: { broker: number; generator: number; other: number }; ping: Latency; probeLagMaxMs: number;
}

async function runCase(name: BrokerName, qos: Qos, floodMs: number, log: (l: string) => void): Promise<CaseResult> {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-soak-'));
  const broker = await startBroker(name, dir);
  const pid = broker.child.pid!;
  let generator: Generator | undefined;
  const timers: NodeJS.Timeout[] = [];
  const clients: Client[] = [];
  try {
    const slow = await openWhenUp(broker.port, 'soak-slow', false, FLOOD_TOPIC, 1);
    const healthy = await Client.open(broker.port, 'soak-ping', true, PING_TOPIC, 1);
    clients.push(slow, healthy);
    const rssIdle = rssBytes(pid);
    generator = await startGenerator(broker.port, qos);
    await sleep(1000);
    const rssBaseline = rssBytes(pid);
    log(`soak: ${name} qos${qos}: ${PUBLISHERS} publishers connected, rss ${(rssBaseline / MiB).toFixed(0)} MiB; flooding ${floodMs / 1000} s`);

    // The slow subscriber: one chunk per tick, acknowledged at once.
    let delivered = 0;
    slow.socket.pause();
    slow.onChunk = () => { slow.socket.pause(); };
    slow.onPacket = (p) => {
      if (p.type !== PacketType.PUBLISH) return;
      delivered++;
      if (p.qos === 1) slow.socket.write(puback(p.packetId));
    };
    timers.push(setInterval(() => slow.socket.resume(), SLOW_READ_MS));

    // The healthy client: a ping to itself every PING_MS.
    const sentAt: number[] = [];
    const rtt: (number | undefined)[] = [];
    healthy.onPacket = (p) => {
      if (p.type !== PacketType.PUBLISH) return;
      const seq = p.payload.readUInt32BE(0);
      rtt[seq] ??= performance.now() - sentAt[seq];
      if (p.qos === 1) healthy.socket.write(puback(p.packetId));
    };
    const ping = (): void => {
      const seq = sentAt.length;
      const payload = Buffer.alloc(8);
      payload.writeUInt32BE(seq, 0);
      sentAt.push(performance.now());
      healthy.socket.write(encode({ type: PacketType.PUBLISH, topic: PING_TOPIC, payload, qos: 1, retain: false, dup: false, packetId: (seq % 65535) + 1 }, 4));
    };

    // RSS, and Petrel's own accounting when its metrics endpoint answers (one scrape at a time).
    const rssSamples: number[] = [];
    let heapUsedMax: number | undefined;
    let budgetUsedMax: number | undefined;
    let scraping = false;
    const sample = (): void => {
      rssSamples.push(rssBytes(pid));
      if (rssSamples.length % 10 === 0) {
        log(`soak: ${name} qos${qos} ${rssSamples.length * SAMPLE_MS / 1000} s: rss ${mb(rssSamples.at(-1))} MiB, ` +
          `pings back ${rtt.filter((x) => x !== undefined).length}/${sentAt.length}`);
      }
      if (scraping || broker.metricsPort === undefined) return;
      scraping = true;
      void scrapeMetrics(broker.metricsPort).then((m) => {
        scraping = false;
        if (m === undefined) return;
        heapUsedMax = Math.max(heapUsedMax ?? 0, m.get('petrel_nodejs_heap_size_used_bytes') ?? 0);
        budgetUsedMax = Math.max(budgetUsedMax ?? 0, m.get('petrel_memory_used_bytes') ?? 0);
      });
    };
    if ((await scrapeMetrics(broker.metricsPort)) === undefined) broker.metricsPort = undefined;

    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const cpu = cpuMeter(pid, generator.child.pid!);
    generator.child.stdin!.write('go\n');
    const probes = [setInterval(ping, PING_MS), setInterval(sample, SAMPLE_MS)];
    timers.push(...probes);
    await sleep(floodMs);
    generator.child.stdin!.write('stop\n');
    const [cpuShares, deliveredToSlow, stoppedAt] = [cpu(), delivered, performance.now()];
    const summary = await generator.lines.next();
    probes.forEach(clearInterval);
    lag.disable();
    const generated = JSON.parse(summary.value ?? '{}') as { published?: number; errors?: number };

    // Pings still out get until PING_LOST_MS after they were sent; then the broker's counters.
    const deadline = performance.now() + PING_LOST_MS;
    while (performance.now() < deadline && rtt.filter((x) => x !== undefined).length < sentAt.length) await sleep(50);
    await sleep(Math.max(0, 1500 - (performance.now() - stoppedAt)));
    const sys = await readSys(broker.port).catch(() => new Map<string, string>());
    const metrics = await scrapeMetrics(broker.metricsPort);
    const rssEnd = rssBytes(pid);
    const sysNumber = (topic: string): number => Number(sys.get(topic) ?? NaN);
    return {
      variant: `qos${qos}`, broker: name, floodMs,
      published: generated.published ?? NaN, publisherErrors: generated.errors ?? NaN, deliveredToSlow,
      dropped: name === 'petrel' ? sysNumber('$SYS/broker/messages/dropped') : sysNumber('$SYS/broker/publish/messages/dropped'),
      droppedBy: byLabel(metrics, 'petrel_messages_dropped_total'), limitHits: byLabel(metrics, 'petrel_limit_hits_total'),
      rssIdle, rssBaseline, rssMax: Math.max(rssBaseline, ...rssSamples.filter(Number.isFinite)), rssEnd, rssSamples,
      heapUsedMax, budgetUsedMax,
      cpu: cpuShares,
      ping: latency(sentAt, rtt), probeLagMaxMs: lag.max / 1e6,
    };
  } catch (err) {
    throw new Error(`${String(err)}${broker.stderr.trim() === '' ? '' : ` (broker: ${broker.stderr.trim().slice(-300)})`}`);
  } finally {
    for (const t of timers) clearInterval(t);
    for (const c of clients) c.socket.destroy();
    if (generator !== undefined) await stop(generator.child);
    await stop(broker.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- the group -----------------------------------------------------------------------------------

const mb = (bytes: number | undefined): string => bytes === undefined || Number.isNaN(bytes) ? 'n/a' : (bytes / MiB).toFixed(0);
const ms = (x: number): string => Number.isNaN(x) ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1);
const count = (n: number): string => Number.isNaN(n) ? 'n/a' : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(0)}k` : String(Math.round(n));

function droppedText(r: CaseResult): string {
  if (r.droppedBy === undefined) return `${count(r.dropped)} (${r.broker === 'petrel' ? 'by reason: n/a' : 'total'})`;
  const parts = Object.entries(r.droppedBy).map(([reason, n]) => `${reason} ${count(n)}`);
  return parts.length === 0 ? '0' : parts.join(', ');
}

function verdict(r: CaseResult): string {
  const base = `${r.variant} ${r.broker}: RSS max ${mb(r.rssMax)} MiB`;
  const ping = `healthy client p99 ${ms(r.ping.p99)} ms (max ${ms(r.ping.max)} ms, ${r.ping.lost}/${r.ping.sent} pings lost)` +
    (r.publisherErrors > 0 ? `; ${r.publisherErrors} publisher connections failed` : '');
  if (r.broker !== 'petrel') return `${base} (no budget; baseline ${mb(r.rssBaseline)} MiB); ${ping}`;
  const bound = MEMORY_BUDGET + r.rssBaseline;
  const over = r.rssMax > bound ? `, OVER by ${mb(r.rssMax - bound)} MiB` : ', within';
  return `${base} (budget ${mb(MEMORY_BUDGET)} MiB + baseline ${mb(r.rssBaseline)} MiB = ${mb(bound)}${over}); ${ping}`;
}

export const soakGroup: BenchGroup = {
  name: 'soak',
  description: `${PUBLISHERS} publishers flood one slow subscriber: RSS against the memory budget, a healthy client's latency`,
  async run(options: GroupOptions): Promise<GroupReport> {
    const report: GroupReport = { group: 'soak', oursLabel: 'petrel', theirsLabel: 'mosquitto', results: [], notes: [] };
    const floodMs = options.timing.runMs !== DEFAULT_TIMING.runMs ? options.timing.runMs : DEFAULT_FLOOD_MS;
    const brokers: BrokerName[] = mosquittoBin() === undefined ? ['petrel'] : ['petrel', 'mosquitto'];
    const filter = options.filter?.toLowerCase();
    const cases = ([0, 1] as Qos[]).flatMap((qos) => brokers.map((b) => ({ qos, b })))
      .filter(({ qos, b }) => filter === undefined || `qos${qos} ${b}`.includes(filter));
    const unpin = pinSelf(0);
    const results: CaseResult[] = [];
    try {
      for (const { qos, b } of cases) {
        try {
          results.push(await runCase(b, qos, floodMs, options.log));
        } catch (err) {
          options.log(`soak: qos${qos} ${b}: ${String(err)}`);
          report.notes.push(`qos${qos} ${b} failed: ${String(err)}`);
        }
      }
    } finally {
      unpin?.();
    }
    report.table = [renderTable(
      ['case', 'published/s', 'to slow sub', 'dropped', 'rss idle', 'rss base', 'rss max', 'rss end',
        'used/heap max', 'cpu broker/gen/other', 'ping p50/p99/max ms', 'lost pings'],
      results.map((r) => [
        `${r.variant} ${r.broker}`, count(r.published / (r.floodMs / 1000)), count(r.deliveredToSlow), droppedText(r),
        mb(r.rssIdle), mb(r.rssBaseline), mb(r.rssMax), mb(r.rssEnd), `${mb(r.budgetUsedMax)}/${mb(r.heapUsedMax)}`,
        `${r.cpu.broker.toFixed(0)}/${r.cpu.generator.toFixed(0)}/${r.cpu.other.toFixed(0)}%`,
        `${ms(r.ping.p50)} / ${ms(r.ping.p99)} / ${ms(r.ping.max)}`, `${r.ping.lost}/${r.ping.sent}`,
      ]),
    ), '', ...results.map(verdict)].join('\n');
    const limits = results.filter((r) => r.limitHits !== undefined).map((r) => `${r.variant} ${JSON.stringify(r.limitHits)}`);
    report.notes.push(
      `${PUBLISHERS} publishers, ${PAYLOAD_BYTES}-byte payloads, ${floodMs / 1000} s; window per publisher: QoS 0 ${2 * QOS0_BATCH} ` +
        `messages (2 batches, each closed by a QoS 1 marker), QoS 1 ${QOS1_WINDOW}. Slow subscriber: one read (<= 64 KiB) every ` +
        `${SLOW_READ_MS} ms. Healthy client: a QoS 1 ping every ${PING_MS} ms, lost when not back within ${PING_LOST_MS / 1000} s.`,
      `Petrel: memoryBudget ${mb(MEMORY_BUDGET)} MiB, durability none, maxConnectionRate 0, queue ${count(PETREL_MAX_QUEUED)} messages ` +
        `per session. Mosquitto: max_queued_messages ${MOSQUITTO_MAX_QUEUED} (its default), no memory_limit, persistence false.`,
      'published/s: acknowledged to the publishers; dropped: $SYS; to slow sub: read during the flood; rss base: every client ' +
        'connected, before the flood; used/heap max: what the budget counts (petrel_memory_used_bytes) and V8 heap used, from the ' +
        'metrics endpoint; cpu other: the rest of the machine (a busy core 1 delays the broker whatever it does); MiB = 2^20 bytes.',
      `Probe event-loop delay max (a ping latency is no more precise): ${results.map((r) => `${r.variant} ${r.broker} ` +
        `${r.probeLagMaxMs.toFixed(0)} ms`).join(', ')}.`,
      results.some((r) => r.broker === 'petrel' && r.droppedBy === undefined)
        ? 'Petrel drops by reason, budget use and heap: n/a, its metrics endpoint did not answer (bench/servers/petrel.ts does not start it).'
        : `Petrel limit hits: ${limits.join('; ')}.`,
    );
    report.data = results;
    return report;
  },
};

if (process.argv[1] === self && process.argv[2] === '--generate') {
  await generate(Number(process.argv[3]), Number(process.argv[4]) as Qos, Number(process.argv[5]));
}
