// The `durability` group: what the store costs, and what a restart costs.
//
// (a) Fan-in QoS 1 and QoS 2 (mqbench --scenario fanin --pubs 8) to ONE persistent subscriber,
//     with Petrel at durability sync, batched (each on a fresh temporary data directory) and none
//     (no data directory), and Mosquitto with persistence on (autosave_interval 1), one broker at
//     a time, the broker pinned to core 1 and mqbench to core 0 as in the `broker` group.
//     mqbench has no flag for a persistent subscriber (its CONNECT always sets Clean Session), so
//     this group compiles a copy of shared/bench/mqbench.c in which the one line that writes the
//     CONNECT flags gives the subscriber Clean Session 0 (publishers keep 1). Everything else --
//     the publishers, the window, the timestamps, latency, loss and the /proc sampling of the
//     broker -- is mqbench's own. The copy is built in the temporary directory; the shared source
//     is not touched. If that line ever changes, part (a) is skipped and says why.
//
// (b) Restart with 100,000 queued messages (one offline persistent 3.1.1 session, QoS 1, 64-byte
//     payloads) and with 100,000 retained messages (distinct topics). The store is filled through
//     the real broker over MQTT (bench/servers/petrel.ts with durability sync and a queue limit
//     large enough, 4 raw-socket publishers with a window of unacknowledged QoS 1 each), which is
//     then stopped with SIGTERM. Then `petrel --data-dir DIR` (dist/src/cli/main.js, its defaults:
//     durability sync) is timed from spawn to its listening line (which reports what it restored
//     and in how many ms), and on to the moment a client resuming the session (Clean Session 0) has
//     received every queued message, or a client subscribing to the retained topics has received
//     every retained message. Bytes on disk: the data directory's files (apparent sizes) after the
//     fill minus before, over the count, both measured with the broker stopped.
//
// Environment: BENCH_DURATION (mqbench seconds per fan-in run, default 5), BENCH_DURABILITY_COUNT
// (messages for the restart cases, default 100000).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrokerOptions } from '../src/index.js';
import { Decoder, encode, PacketType, type ConnackPacket, type Packet, type PublishPacket, type SubackPacket } from '../src/protocol/index.js';
import { renderTable, type BenchGroup, type GroupOptions, type GroupReport } from './harness.js';
import { pinned, pinSelf, procStatusKb } from './processes.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

const PAYLOAD_BYTES = 64;
const FILL_CONNECTIONS = 4;
/** Unacknowledged QoS 1 PUBLISH per filling connection (the broker pauses reading a 3.x client at its receiveMaximum, 100). */
const FILL_WINDOW = 256;
const MQBENCH_DRAIN_S = 20;
const MOSQUITTO_AUTOSAVE_S = 1;
const STEP_TIMEOUT_MS = 60_000;
/** A receiver that has had nothing for this long stops waiting. */
const RECEIVE_IDLE_MS = 3000;
const QUEUE_CLIENT = 'durability-bench-sub';
const QUEUE_TOPIC = 'durability/q';
const RETAINED_PREFIX = 'durability/r';

// --- processes ------------------------------------------------------------------------------

interface Spawned {
  child: ChildProcess;
  stdout: string;
  stderr: string;
}

function spawnPinned(core: number, argv: string[], env?: NodeJS.ProcessEnv): Spawned {
  const [cmd, args] = pinned(core, argv);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  const s: Spawned = { child, stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => { s.stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { s.stderr += d.toString(); });
  return s;
}

/** SIGTERM, then SIGKILL after 5 s; resolves with how long the exit took and how it ended. */
function stop(child: ChildProcess): Promise<{ ms: number; exit: string }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const done = (): void => resolve({ ms: performance.now() - t0, exit: child.signalCode ?? String(child.exitCode) });
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => { clearTimeout(timer); done(); });
    child.kill('SIGTERM');
  });
}

/** Resolves once `s` has printed a line matching `re` (with that line), rejects on exit or timeout. */
function waitForLine(s: Spawned, re: RegExp, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const line = s.stdout.split('\n').find((l) => re.test(l));
      if (line === undefined) return false;
      cleanup();
      resolve(line);
      return true;
    };
    const onExit = (): void => { cleanup(); reject(new Error(`exited (${s.child.exitCode ?? s.child.signalCode}) before printing ${re}: ${s.stderr.trim().slice(0, 400)}`)); };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`nothing matching ${re} within ${ms} ms: ${s.stderr.trim().slice(0, 400)}`)); }, ms);
    const cleanup = (): void => {
      clearTimeout(timer);
      s.child.stdout!.removeListener('data', onData);
      s.child.removeListener('exit', onExit);
    };
    const onData = (): void => { check(); };
    if (check()) return;
    // Registered after the Spawned's own listener, so s.stdout already holds the chunk.
    s.child.stdout!.on('data', onData);
    s.child.once('exit', onExit);
  });
}

let nextPort = 26000 + Math.floor(Math.random() * 2000);

/** Apparent size of every file under `dir`; allocated bytes (st_blocks) beside it. */
function dirBytes(dir: string): { apparent: number; allocated: number } {
  let apparent = 0;
  let allocated = 0;
  if (!existsSync(dir)) return { apparent, allocated };
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = dirBytes(p);
      apparent += sub.apparent;
      allocated += sub.allocated;
    } else if (entry.isFile()) {
      const st = statSync(p);
      apparent += st.size;
      allocated += st.blocks * 512;
    }
  }
  return { apparent, allocated };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms / 1000} s`)), ms); }),
  ]);
}

// --- a raw MQTT 3.1.1 client ----------------------------------------------------------------

/** One 3.1.1 connection built on our codec: acknowledges every QoS 1 PUBLISH it receives. */
class RawClient {
  readonly socket: net.Socket;
  private readonly decoder = new Decoder({ side: 'client', protocolVersion: 4 });
  private waiter: { type: number; resolve(p: Packet): void; reject(e: Error): void } | undefined;
  private failure: Error | undefined;
  private closing = false;
  onPublish: ((p: PublishPacket) => void) | undefined;
  onPuback: ((packetId: number) => void) | undefined;
  readonly errors: string[] = [];

  private constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1' });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('close', () => { if (!this.closing) this.fail(new Error('connection closed by the broker')); });
  }

  /** Connects and returns the client with its CONNACK's Session Present. */
  static async open(port: number, clientId: string, clean: boolean, setup?: (c: RawClient) => void): Promise<{ client: RawClient; sessionPresent: boolean }> {
    const client = new RawClient(port);
    // Before CONNECT: a resumed session's messages may come in the same chunk as CONNACK.
    setup?.(client);
    const connack = client.next(PacketType.CONNACK);
    client.socket.write(encode({ type: PacketType.CONNECT, protocolVersion: 4, clean, keepAlive: 0, clientId }, 4));
    const p = await connack as ConnackPacket;
    if (p.reasonCode !== 0) {
      client.close();
      throw new Error(`CONNECT ${clientId} refused: return code ${p.reasonCode}`);
    }
    return { client, sessionPresent: p.sessionPresent };
  }

  private fail(e: Error): void {
    if (this.errors.length < 5) this.errors.push(e.message);
    this.failure ??= e;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(e);
  }

  private onData(chunk: Buffer): void {
    this.decoder.push(chunk);
    const acks: Buffer[] = [];
    try {
      for (let p = this.decoder.next(); p !== undefined; p = this.decoder.next()) {
        if (p.type === PacketType.PUBLISH) {
          if (p.qos === 1) acks.push(encode({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 }, 4));
          else if (p.qos === 2) this.fail(new Error('QoS 2 PUBLISH not expected here'));
          this.onPublish?.(p);
        } else if (p.type === PacketType.PUBACK) {
          this.onPuback?.(p.packetId);
        } else if (this.waiter !== undefined && this.waiter.type === p.type) {
          const w = this.waiter;
          this.waiter = undefined;
          w.resolve(p);
        } else {
          this.fail(new Error(`unexpected packet type ${p.type}`));
        }
      }
    } catch (e) {
      this.fail(e instanceof Error ? e : new Error(String(e)));
      this.socket.destroy();
    }
    if (acks.length > 0 && !this.socket.destroyed) this.socket.write(acks.length === 1 ? acks[0] : Buffer.concat(acks));
  }

  private next(type: number): Promise<Packet> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiter = undefined; reject(new Error(`no packet type ${type} within 10 s`)); }, 10_000);
      this.waiter = {
        type,
        resolve: (p) => { clearTimeout(timer); resolve(p); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
    });
  }

  async subscribe(filter: string, qos: 0 | 1): Promise<void> {
    const suback = this.next(PacketType.SUBACK);
    this.socket.write(encode({
      type: PacketType.SUBSCRIBE, packetId: 1,
      subscriptions: [{ filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    }, 4));
    const p = await suback as SubackPacket;
    if (p.reasonCodes[0] !== qos) throw new Error(`SUBSCRIBE ${filter}: granted ${p.reasonCodes[0]}`);
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /** DISCONNECT, then waits for the broker to close (at most 2 s). */
  async disconnect(): Promise<void> {
    this.closing = true;
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.socket.destroy(); resolve(); }, 2000);
      this.socket.once('close', () => { clearTimeout(timer); resolve(); });
      this.socket.end(encode({ type: PacketType.DISCONNECT, reasonCode: 0 }, 4));
    });
  }

  close(): void {
    this.closing = true;
    this.socket.destroy();
  }
}

/** Waits until a broker answers CONNECT on `port` (clean session, so it leaves nothing behind). */
async function waitReady(port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const { client } = await RawClient.open(port, `durability-probe-${port}`, true);
      await client.disconnect();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`broker on port ${port} did not answer within 15 s: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function payloadFor(index: number): Buffer {
  const b = Buffer.alloc(PAYLOAD_BYTES, 0x78);
  b.writeUInt32BE(index, 0);
  return b;
}

/**
 * Publishes messages 0..count-1 at QoS 1 over FILL_CONNECTIONS clean connections, each keeping at
 * most FILL_WINDOW unacknowledged; resolves once every PUBACK is in. Returns the elapsed ms.
 */
async function publishAll(port: number, count: number, topicOf: (i: number) => string, retain: boolean): Promise<number> {
  const clients = await Promise.all(Array.from({ length: FILL_CONNECTIONS }, (_, k) =>
    RawClient.open(port, `durability-fill-${k}`, true).then((r) => r.client)));
  const t0 = performance.now();
  try {
    await Promise.all(clients.map((client, k) => new Promise<void>((resolve, reject) => {
      let next = k;
      let inflight = 0;
      let acked = 0;
      const mine = Math.ceil((count - k) / FILL_CONNECTIONS);
      let packetId = 0;
      const pump = (): void => {
        const out: Buffer[] = [];
        while (inflight < FILL_WINDOW && next < count) {
          packetId = packetId === 65535 ? 1 : packetId + 1;
          out.push(encode({
            type: PacketType.PUBLISH, topic: topicOf(next), payload: payloadFor(next), qos: 1, retain, dup: false, packetId,
          }, 4));
          next += FILL_CONNECTIONS;
          inflight++;
        }
        if (out.length > 0) client.socket.write(Buffer.concat(out));
      };
      client.onPuback = () => {
        inflight--;
        acked++;
        if (acked === mine) resolve();
        else if (inflight <= FILL_WINDOW / 2) pump();
      };
      client.socket.once('close', () => reject(client.failed ?? new Error('publisher connection closed')));
      if (mine <= 0) resolve();
      else pump();
    })));
    return performance.now() - t0;
  } finally {
    await Promise.all(clients.map((c) => c.disconnect()));
  }
}

interface Received {
  /** Distinct message indexes received. */
  distinct: number;
  complete: boolean;
  firstMs: number;
  lastMs: number;
  duplicates: number;
  outOfRange: number;
  /** Why it stopped short, when it did. */
  stoppedBy?: string;
}

/**
 * Receives until `count` distinct message indexes (first 4 payload bytes) have arrived, or
 * nothing has come for RECEIVE_IDLE_MS, or STEP_TIMEOUT_MS have passed, or the connection closed.
 */
function receiveAll(client: RawClient, count: number): Promise<Received> {
  const seen = new Uint8Array(count);
  const r: Received = { distinct: 0, complete: false, firstMs: Number.NaN, lastMs: Number.NaN, duplicates: 0, outOfRange: 0 };
  const started = performance.now();
  return new Promise<Received>((resolve) => {
    let done = false;
    const finish = (why?: string): void => {
      if (done) return;
      done = true;
      clearInterval(timer);
      client.onPublish = undefined;
      if (why !== undefined) r.stoppedBy ??= why;
      resolve(r);
    };
    const timer = setInterval(() => {
      const now = performance.now();
      const last = Number.isNaN(r.lastMs) ? started : r.lastMs;
      if (now - last > RECEIVE_IDLE_MS) finish(`nothing for ${RECEIVE_IDLE_MS / 1000} s`);
      else if (now - started > STEP_TIMEOUT_MS) finish(`still receiving after ${STEP_TIMEOUT_MS / 1000} s`);
    }, 100);
    client.onPublish = (p) => {
      const now = performance.now();
      if (Number.isNaN(r.firstMs)) r.firstMs = now;
      r.lastMs = now;
      const i = p.payload.length === PAYLOAD_BYTES ? p.payload.readUInt32BE(0) : -1;
      if (i < 0 || i >= count) { r.outOfRange++; return; }
      if (seen[i] === 1) { r.duplicates++; return; }
      seen[i] = 1;
      if (++r.distinct === count) {
        r.complete = true;
        finish();
      }
    };
    client.socket.once('close', () => finish(`connection closed: ${client.errors.join('; ')}`));
  });
}

// --- part (a): fan-in to one persistent subscriber with mqbench ----------------------------

interface MqbenchSummary {
  ok: boolean;
  error?: string;
  sent: number;
  acked: number;
  lost: number;
  loss_pct: number;
  dup: number;
  pub_per_s: number;
  recv_per_s: number;
  p50_us: number;
  p99_us: number;
  drain_s: number;
  conn_errors: number;
  broker_cpu_pct: number;
  broker_hwm_kb: number;
}

const CONNECT_FLAGS_LINE = '*p++ = 0x02;                                    /* clean session / clean start */';

/** Builds mqbench with a persistent (Clean Session 0) subscriber, or says why it cannot. */
function buildPersistentMqbench(): { path: string; helpHasFlag: boolean } | { missing: string } {
  const source = [join(repoRoot, '..', 'shared', 'bench', 'mqbench.c'), join(repoRoot, 'shared', 'bench', 'mqbench.c')].find((p) => existsSync(p));
  if (source === undefined) return { missing: 'the load generator (shared/bench/mqbench.c) is not beside this checkout' };
  const text = readFileSync(source, 'utf8');
  const helpHasFlag = /--(clean|no-clean|session|persist)/.test(text);
  if (text.split(CONNECT_FLAGS_LINE).length !== 2) {
    return { missing: 'mqbench.c no longer writes its CONNECT flags in the line this group patches for a persistent subscriber' };
  }
  const dir = mkdtempSync(join(tmpdir(), 'petrel-mqbench-persist-'));
  const patched = join(dir, 'mqbench-persistent.c');
  writeFileSync(patched, text.replace(CONNECT_FLAGS_LINE,
    '*p++ = c->role == R_SUB ? 0x00 : 0x02;          /* durability bench: persistent subscriber */'));
  const out = join(tmpdir(), 'petrel-mqbench-persistent');
  const r = spawnSync('gcc', ['-O2', '-o', out, patched, '-lm'], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) return { missing: `gcc could not build mqbench: ${r.stderr || r.error?.message}` };
  return { path: out, helpHasFlag };
}

interface FaninConfig {
  name: string;
  broker: 'petrel' | 'mosquitto';
  durability?: 'sync' | 'batched' | 'none';
}

const FANIN_CONFIGS: FaninConfig[] = [
  { name: 'petrel sync', broker: 'petrel', durability: 'sync' },
  { name: 'petrel batched', broker: 'petrel', durability: 'batched' },
  { name: 'petrel none', broker: 'petrel', durability: 'none' },
  { name: 'mosquitto persist', broker: 'mosquitto' },
];

interface FaninResult {
  qos: 1 | 2;
  config: string;
  summary: MqbenchSummary;
  /** Bytes in the data directory once the broker has stopped. */
  diskBytes: number;
  brokerExit: string;
}

const mosquittoBin = (): string | undefined => ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));

function runMqbench(mqbench: string, port: number, pid: number, qos: 1 | 2, duration: number): Promise<MqbenchSummary> {
  const s = spawnPinned(0, [mqbench, '--port', String(port), '--scenario', 'fanin', '--pubs', '8', '--qos', String(qos),
    '--duration', String(duration), '--drain', String(MQBENCH_DRAIN_S), '--broker-pid', String(pid)]);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => s.child.kill('SIGKILL'), (duration + MQBENCH_DRAIN_S + 30) * 1000);
    s.child.on('close', () => {
      clearTimeout(timer);
      const last = s.stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as MqbenchSummary);
      } catch {
        reject(new Error(`mqbench printed no summary: ${last.slice(0, 200)} ${s.stderr.trim().slice(-300)}`));
      }
    });
  });
}

async function runFanin(mqbench: string, config: FaninConfig, qos: 1 | 2, duration: number): Promise<FaninResult | undefined> {
  const port = nextPort++;
  const tmp = mkdtempSync(join(tmpdir(), 'petrel-durability-'));
  const dataDir = join(tmp, 'data');
  let s: Spawned;
  try {
    if (config.broker === 'petrel') {
      const opts: BrokerOptions = config.durability === 'none' ? { durability: 'none' } : { dataDir, durability: config.durability };
      s = spawnPinned(1, [process.execPath, join(here, 'servers', 'petrel.js'), String(port)],
        { ...process.env, PETREL_OPTIONS: JSON.stringify(opts) });
    } else {
      const bin = mosquittoBin();
      if (bin === undefined) return undefined;
      // Mosquitto started as root drops to the user `mosquitto`, who must be able to write here.
      chmodSync(tmp, 0o777);
      const conf = join(tmp, 'mosquitto.conf');
      writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location ${tmp}/\n` +
        `autosave_interval ${MOSQUITTO_AUTOSAVE_S}\nmax_queued_messages 100000\n`);
      s = spawnPinned(1, [bin, '-c', conf]);
    }
    let summary: MqbenchSummary;
    let stopped: { ms: number; exit: string };
    try {
      await waitReady(port);
      summary = await runMqbench(mqbench, port, s.child.pid!, qos, duration);
    } finally {
      stopped = await stop(s.child);
    }
    const disk = config.broker === 'petrel' ? dirBytes(dataDir).apparent : existsSync(join(tmp, 'mosquitto.db')) ? statSync(join(tmp, 'mosquitto.db')).size : 0;
    return { qos, config: config.name, summary, diskBytes: disk, brokerExit: stopped.exit };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// --- part (b): restart -----------------------------------------------------------------------

interface Restored {
  sessions: number;
  queued: number;
  inflight: number;
  retained: number;
  reportedMs: number;
}

const LISTENING = /MQTT listening on/;
const RESTORED = /restored (\d+) sessions, (\d+) queued and (\d+) unacknowledged messages, (\d+) retained in (\d+) ms/;

interface CliRun {
  s: Spawned;
  port: number;
  t0: number;
  listenMs: number;
  restored: Restored | undefined;
  line: string;
}

/** Spawns `petrel --data-dir dir` and waits for its listening line. */
async function startCli(dir: string): Promise<CliRun> {
  const port = nextPort++;
  const t0 = performance.now();
  const s = spawnPinned(1, [process.execPath, CLI, '--host', '127.0.0.1', '--port', String(port), '--data-dir', dir]);
  let line: string;
  try {
    line = await waitForLine(s, LISTENING, STEP_TIMEOUT_MS);
  } catch (err) {
    await stop(s.child);
    throw err;
  }
  const listenMs = performance.now() - t0;
  const m = RESTORED.exec(line);
  const restored = m === null ? undefined
    : { sessions: Number(m[1]), queued: Number(m[2]), inflight: Number(m[3]), retained: Number(m[4]), reportedMs: Number(m[5]) };
  return { s, port, t0, listenMs, restored, line: line.trim() };
}

/** Starts the bench broker (bench/servers/petrel.ts) on `dir`, durability sync, with room for `count` queued. */
async function startFillBroker(dir: string, count: number): Promise<{ s: Spawned; port: number }> {
  const port = nextPort++;
  const opts: BrokerOptions = { dataDir: dir, durability: 'sync', maxQueuedMessages: Math.max(count * 2, 1000), maxQueuedBytes: 1 << 30 };
  const s = spawnPinned(1, [process.execPath, join(here, 'servers', 'petrel.js'), String(port)],
    { ...process.env, PETREL_OPTIONS: JSON.stringify(opts) });
  try {
    await waitForLine(s, /^ready$/, 15_000);
  } catch (err) {
    await stop(s.child);
    throw err;
  }
  return { s, port };
}

interface RestartResult {
  name: string;
  count: number;
  restored: Restored | undefined;
  line: string;
  /** Spawn to listening line, wall clock. */
  listenMs: number;
  /** Spawn to the last message received (undefined for the baseline). */
  allReceivedMs?: number;
  /** What the client received; firstMs / lastMs counted from the spawn. */
  received?: Received;
  /** CONNECT sent to the last message received. */
  receiveMs?: number;
  duplicates?: number;
  sessionPresent?: boolean;
  diskBefore?: { apparent: number; allocated: number };
  diskAfter?: { apparent: number; allocated: number };
  bytesPerMessage?: number;
  fillMs?: number;
  rssAfterListenKb: number;
  peakRssKb: number;
  stopMs: number;
  exit: string;
  /** Queued / unacknowledged left in the store after the drain, from one more restart. */
  leftAfterDrain?: Restored;
}

async function restartQueued(count: number, log: (l: string) => void): Promise<RestartResult[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'petrel-durability-'));
  const dir = join(tmp, 'data');
  const out: RestartResult[] = [];
  try {
    // 1. The persistent session, offline: connect, subscribe at QoS 1, disconnect.
    let b = await startFillBroker(dir, count);
    try {
      const { client } = await RawClient.open(b.port, QUEUE_CLIENT, false);
      await client.subscribe(QUEUE_TOPIC, 1);
      await client.disconnect();
    } finally {
      await stop(b.s.child);
    }
    const diskBefore = dirBytes(dir);

    // 2. Baseline: the command on this store (one session, nothing queued).
    {
      const run = await startCli(dir);
      const rss = procStatusKb(run.s.child.pid!, 'VmRSS');
      const hwm = procStatusKb(run.s.child.pid!, 'VmHWM');
      const st = await stop(run.s.child);
      out.push({ name: 'baseline: 1 session, 0 queued', count: 0, restored: run.restored, line: run.line, listenMs: run.listenMs,
        rssAfterListenKb: rss, peakRssKb: hwm, stopMs: st.ms, exit: st.exit });
      log(`durability: restart baseline: ${run.listenMs.toFixed(0)} ms to listening`);
    }

    // 3. Fill: `count` QoS 1 messages for the offline session.
    b = await startFillBroker(dir, count);
    let fillMs: number;
    try {
      fillMs = await withTimeout(publishAll(b.port, count, () => QUEUE_TOPIC, false), STEP_TIMEOUT_MS, 'filling the queue');
    } finally {
      await stop(b.s.child);
    }
    const diskAfter = dirBytes(dir);
    log(`durability: queued ${count} in ${fillMs.toFixed(0)} ms`);

    // 4. Restart, then the session resumes and takes everything.
    const run = await startCli(dir);
    const rss = procStatusKb(run.s.child.pid!, 'VmRSS');
    let received: Received;
    let sessionPresent: boolean;
    let connectAt: number;
    try {
      connectAt = performance.now();
      let all: Promise<Received> | undefined;
      const opened = await RawClient.open(run.port, QUEUE_CLIENT, false, (c) => { all = receiveAll(c, count); });
      sessionPresent = opened.sessionPresent;
      received = await all!;
      await opened.client.disconnect();
    } catch (err) {
      await stop(run.s.child);
      throw err;
    }
    const hwm = procStatusKb(run.s.child.pid!, 'VmHWM');
    const st = await stop(run.s.child);
    // 5. One more start: nothing may be left queued or unacknowledged.
    const again = await startCli(dir);
    await stop(again.s.child);
    out.push({
      name: `${count / 1000}k queued (1 session, QoS 1, ${PAYLOAD_BYTES} B)`, count, restored: run.restored, line: run.line,
      listenMs: run.listenMs, allReceivedMs: received.lastMs - run.t0, receiveMs: received.lastMs - connectAt,
      received: { ...received, firstMs: received.firstMs - run.t0, lastMs: received.lastMs - run.t0 },
      duplicates: received.duplicates, sessionPresent, diskBefore, diskAfter,
      bytesPerMessage: (diskAfter.apparent - diskBefore.apparent) / count, fillMs,
      rssAfterListenKb: rss, peakRssKb: hwm, stopMs: st.ms, exit: st.exit, leftAfterDrain: again.restored,
    });
    log(`durability: restart with ${count} queued: ${run.listenMs.toFixed(0)} ms to listening, ` +
      `${(received.lastMs - run.t0).toFixed(0)} ms to the last of ${received.distinct} received`);
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function restartRetained(count: number, log: (l: string) => void): Promise<RestartResult> {
  const tmp = mkdtempSync(join(tmpdir(), 'petrel-durability-'));
  const dir = join(tmp, 'data');
  try {
    // 1. An empty store (what the broker itself writes at start, $SYS included).
    let b = await startFillBroker(dir, count);
    await stop(b.s.child);
    const diskBefore = dirBytes(dir);

    // 2. Fill: `count` retained messages on distinct topics.
    b = await startFillBroker(dir, count);
    let fillMs: number;
    try {
      fillMs = await withTimeout(publishAll(b.port, count, (i) => `${RETAINED_PREFIX}/${i}`, true), STEP_TIMEOUT_MS, 'filling retained');
    } finally {
      await stop(b.s.child);
    }
    const diskAfter = dirBytes(dir);
    log(`durability: retained ${count} in ${fillMs.toFixed(0)} ms`);

    // 3. Restart, then a new subscriber on all of them receives every retained message.
    const run = await startCli(dir);
    const rss = procStatusKb(run.s.child.pid!, 'VmRSS');
    let received: Received;
    let connectAt: number;
    try {
      connectAt = performance.now();
      const { client } = await RawClient.open(run.port, 'durability-retained-sub', true);
      const all = receiveAll(client, count);
      await client.subscribe(`${RETAINED_PREFIX}/#`, 1);
      received = await all;
      await client.disconnect();
    } catch (err) {
      await stop(run.s.child);
      throw err;
    }
    const hwm = procStatusKb(run.s.child.pid!, 'VmHWM');
    const st = await stop(run.s.child);
    log(`durability: restart with ${count} retained: ${run.listenMs.toFixed(0)} ms to listening`);
    return {
      name: `${count / 1000}k retained (distinct topics, ${PAYLOAD_BYTES} B)`, count, restored: run.restored, line: run.line,
      listenMs: run.listenMs, allReceivedMs: received.lastMs - run.t0, receiveMs: received.lastMs - connectAt,
      received: { ...received, firstMs: received.firstMs - run.t0, lastMs: received.lastMs - run.t0 },
      duplicates: received.duplicates, diskBefore, diskAfter, bytesPerMessage: (diskAfter.apparent - diskBefore.apparent) / count,
      fillMs, rssAfterListenKb: rss, peakRssKb: hwm, stopMs: st.ms, exit: st.exit,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// --- the group -------------------------------------------------------------------------------

const fmt = (n: number): string => !Number.isFinite(n) ? '-' : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
const bytes = (n: number): string => n >= 1e6 ? mb(n) : n >= 1e4 ? `${(n / 1e3).toFixed(0)} kB` : `${n} B`;
const ms = (n: number | undefined): string => n === undefined || !Number.isFinite(n) ? '-' : n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${n.toFixed(0)} ms`;

export const durabilityGroup: BenchGroup = {
  name: 'durability',
  description: 'the store: fan-in to a persistent subscriber at sync/batched/none (and Mosquitto), restart with 100k queued/retained',
  async run(options: GroupOptions): Promise<GroupReport> {
    const report: GroupReport = { group: 'durability', oursLabel: 'petrel', theirsLabel: 'mosquitto', results: [], notes: [] };
    const duration = Number(process.env.BENCH_DURATION ?? 5);
    const count = Number(process.env.BENCH_DURABILITY_COUNT ?? 100_000);
    if (!(duration > 0) || !(Number.isInteger(count) && count >= 1000)) {
      throw new Error('durability: BENCH_DURATION must be > 0 and BENCH_DURABILITY_COUNT an integer >= 1000');
    }
    const filter = options.filter?.toLowerCase();
    const wanted = (name: string): boolean => filter === undefined || name.toLowerCase().includes(filter);
    const blocks: string[] = [];
    const data: { fanin: FaninResult[]; restart: RestartResult[]; errors: string[] } = { fanin: [], restart: [], errors: [] };

    // (a)
    const mqbench = buildPersistentMqbench();
    if ('missing' in mqbench) {
      blocks.push(`(a) fan-in skipped: ${mqbench.missing}`);
    } else {
      const rows: string[][] = [];
      for (const qos of [1, 2] as const) {
        const section = `fan-in QoS ${qos}, 8 pub -> 1 persistent sub`;
        const results: FaninResult[] = [];
        for (const config of FANIN_CONFIGS) {
          if (!wanted(`${section} ${config.name}`)) continue;
          options.log(`durability: ${section}: ${config.name}`);
          try {
            const r = await runFanin(mqbench.path, config, qos, duration);
            if (r === undefined) { options.log(`durability: ${config.name}: not installed, skipped`); continue; }
            if (!r.summary.ok) options.log(`durability: ${config.name} QoS ${qos}: mqbench says not ok${r.summary.error ? `: ${r.summary.error}` : ''}`);
            results.push(r);
          } catch (err) {
            data.errors.push(`${section} ${config.name}: ${String(err)}`);
            options.log(`durability: ${config.name}: ${String(err)}`);
          }
        }
        if (results.length === 0) continue;
        data.fanin.push(...results);
        const none = results.find((r) => r.config === 'petrel none');
        rows.push([`${section}:`]);
        for (const r of results) {
          const x = r.summary;
          const vsNone = none !== undefined && r.config.startsWith('petrel') && none.summary.recv_per_s > 0
            ? `${(x.recv_per_s / none.summary.recv_per_s).toFixed(2)}x` : '';
          rows.push([
            `  ${r.config}`, fmt(x.recv_per_s), fmt(x.pub_per_s),
            x.lost > 0 ? `${x.lost} (${x.loss_pct.toFixed(1)}%)` : x.ok ? '0' : `0 (not ok)`,
            `${fmt(x.p50_us)} / ${fmt(x.p99_us)}`, `${x.broker_cpu_pct.toFixed(0)}%`, `${(x.broker_hwm_kb / 1024).toFixed(0)} MB`,
            r.config === 'petrel none' ? '-' : bytes(r.diskBytes),
            vsNone,
          ]);
        }
        rows.push(['']);
      }
      rows.pop();
      if (rows.length > 0) {
        blocks.push(renderTable(['(a) case', 'recv/s', 'pub/s', 'lost', 'p50 / p99 us', 'broker cpu', 'peak rss', 'disk after', 'x none'], rows));
      }
      report.notes.push(
        `(a) mqbench --scenario fanin --pubs 8 --qos 1|2 (MQTT 3.1.1, ${PAYLOAD_BYTES}-byte payloads, window 64 per publisher, ` +
          `1 s warm-up, ${duration} s measured, --drain ${MQBENCH_DRAIN_S}), one run per cell, a fresh broker and temporary data directory ` +
          'per cell, broker on core 1, mqbench on core 0. recv/s: messages the subscriber received per second in the window; ' +
          'p50 / p99: publish-to-receive latency (queueing delay under saturation); broker cpu and peak rss (VmHWM) from /proc via mqbench; ' +
          'x none: recv/s over Petrel with durability none (goal: sync >= 0.50x).',
        `(a) mqbench ${mqbench.helpHasFlag ? 'seems to have' : 'has no'} clean-session / session-expiry flag: its CONNECT always sets Clean ` +
          'Session. This group builds a copy in which only the subscriber sends Clean Session 0, so it is persistent (3.1.1; Petrel stores ' +
          'sessions whose expiry is > 0, which a 3.x persistent session is by default), and the 8 publishers stay clean.',
        '(a) Petrel: bench/servers/petrel.ts (maxQueuedMessages 100000, maxQueuedBytes 1 GiB) with PETREL_OPTIONS {dataDir, durability}; ' +
          'none = no dataDir. disk after: the data directory once the broker has stopped (LMDB does not shrink its file). ' +
          `Mosquitto ${spawnSync(mosquittoBin() ?? 'false', ['-h'], { encoding: 'utf8' }).stdout?.match(/version \S+/)?.[0] ?? ''}: persistence true, ` +
          `persistence_location <tmpdir>/, autosave_interval ${MOSQUITTO_AUTOSAVE_S} (set; the default is 1800), max_queued_messages 100000; ` +
          'Mosquitto writes its whole in-memory database every autosave_interval seconds (and at exit): nothing is on disk when it ' +
          'acknowledges a PUBLISH, so its guarantee is below even Petrel batched. disk after: mosquitto.db after exit. Mosquitto drops ' +
          'QoS 1/2 messages past max_queued_messages for a subscriber that lags (counted as lost); Petrel slows its publishers instead.',
      );
      const pick = (q: number, c: string): MqbenchSummary | undefined => data.fanin.find((r) => r.qos === q && r.config === c)?.summary;
      for (const q of [1, 2]) {
        const sync = pick(q, 'petrel sync');
        const none = pick(q, 'petrel none');
        if (sync !== undefined && none !== undefined && none.recv_per_s > 0) {
          const ratio = sync.recv_per_s / none.recv_per_s;
          report.notes.push(`(a) QoS ${q}: sync / none = ${ratio.toFixed(2)}x: goal (>= 0.50x) ${ratio >= 0.5 ? 'met' : 'NOT met'}.`);
        }
      }
      for (const r of data.fanin) {
        if (r.config.startsWith('petrel') && (!r.summary.ok || r.summary.lost !== 0 || r.summary.dup !== 0)) {
          report.notes.push(`(a) ${r.config} QoS ${r.qos}: mqbench not ok: lost ${r.summary.lost}, dup ${r.summary.dup}, ` +
            `acked ${r.summary.acked} of ${r.summary.sent}, conn errors ${r.summary.conn_errors}${r.summary.error ? `, ${r.summary.error}` : ''}.`);
        }
        if (r.brokerExit !== '0') report.notes.push(`(a) ${r.config} QoS ${r.qos}: broker exit on SIGTERM was ${r.brokerExit}, not 0.`);
      }
    }

    // (b)
    if (wanted('restart')) {
      const unpin = pinSelf(0);
      try {
        try {
          data.restart.push(...await restartQueued(count, options.log));
        } catch (err) {
          data.errors.push(`restart, queued: ${String(err)}`);
          options.log(`durability: restart, queued: ${String(err)}`);
        }
        try {
          data.restart.push(await restartRetained(count, options.log));
        } catch (err) {
          data.errors.push(`restart, retained: ${String(err)}`);
          options.log(`durability: restart, retained: ${String(err)}`);
        }
      } finally {
        unpin?.();
      }
      if (data.restart.length > 0) {
        const rows = data.restart.map((r) => [
          r.name,
          r.restored === undefined ? '?' : `${r.restored.sessions} / ${r.restored.queued} / ${r.restored.inflight} / ${r.restored.retained}`,
          ms(r.listenMs), r.restored === undefined ? '-' : ms(r.restored.reportedMs),
          r.received === undefined ? '-' : r.received.complete ? ms(r.allReceivedMs) : `only ${r.received.distinct} of ${r.count}`,
          r.received === undefined || r.receiveMs === undefined ? '-' : `${fmt(r.received.distinct / (r.receiveMs / 1000))}/s`,
          r.diskBefore === undefined || r.diskAfter === undefined ? '-' : `${mb(r.diskBefore.apparent)} -> ${mb(r.diskAfter.apparent)}`,
          r.bytesPerMessage === undefined ? '-' : r.bytesPerMessage.toFixed(0),
          `${(r.rssAfterListenKb / 1024).toFixed(0)} / ${(r.peakRssKb / 1024).toFixed(0)} MB`,
        ]);
        blocks.push(renderTable(['(b) restart with', 'restored s/q/u/r', 'spawn->listen', 'reported', 'spawn->all recv',
          'recv rate', 'disk before -> after', 'B/msg', 'rss listen / peak'], rows));
        report.notes.push(
          `(b) The store is filled through the broker (bench/servers/petrel.ts, durability sync, maxQueuedMessages ${Math.max(count * 2, 1000)}) ` +
            `by ${FILL_CONNECTIONS} raw-socket 3.1.1 publishers, QoS 1, ${FILL_WINDOW} unacknowledged each, then stopped with SIGTERM; ` +
            '`petrel --data-dir DIR` (dist/src/cli/main.js, durability sync by default, maxQueuedMessages 1000 by default: restored queues ' +
            'are not cut to it) is timed from spawn (pinned to core 1) to its listening line ("reported" is the ms that line gives: ' +
            'construction + restore + listen, without Node start-up). spawn->all recv: on to the last message received by a 3.1.1 client ' +
            '(this process, core 0, acknowledging each QoS 1 PUBLISH) that resumes the session (Clean Session 0) for the queued case, or ' +
            'subscribes to the retained topics for the retained case; recv rate: messages over the time from its CONNECT to the last one.',
          '(b) restored s/q/u/r: sessions / queued / unacknowledged / retained as the listening line reports them ($SYS topics are retained ' +
            'and stored too, hence a dozen retained beyond the count). disk: apparent size of the data directory\'s files with the broker ' +
            'stopped, before and after the fill; B/msg = the difference over the count (message record + queue or retained entry + LMDB ' +
            'B-tree pages; LMDB grows its file in whole pages and never shrinks it). rss listen / peak: the restarted broker\'s VmRSS at its ' +
            'listening line, and VmHWM once everything was received.',
        );
        for (const r of data.restart) {
          if (r.fillMs !== undefined) {
            report.notes.push(`(b) ${r.name}: filled in ${ms(r.fillMs)} (${fmt(r.count / (r.fillMs / 1000))}/s through the broker, sync); ` +
              `allocated on disk ${r.diskBefore === undefined ? '-' : mb(r.diskBefore.allocated)} -> ${r.diskAfter === undefined ? '-' : mb(r.diskAfter.allocated)}; ` +
              `SIGTERM after the drain: exit ${r.exit} in ${ms(r.stopMs)}.`);
          }
          if (r.restored === undefined) report.notes.push(`(b) ${r.name}: listening line without restore counts: ${r.line}`);
          else if (r.count > 0 && r.restored.queued + r.restored.retained < r.count) {
            report.notes.push(`(b) ${r.name}: BUG? restored fewer than were stored: ${r.line}`);
          }
          if (r.sessionPresent === false) report.notes.push(`(b) ${r.name}: BUG? the resumed session came back with Session Present 0.`);
          if (r.received !== undefined && !r.received.complete) {
            report.notes.push(`(b) ${r.name}: the client received only ${r.received.distinct} of ${r.count} distinct messages ` +
              `(stopped: ${r.received.stoppedBy ?? '?'}).` + (r.restored !== undefined && r.restored.retained >= r.count
              ? ' All were restored: retained messages for a new subscription go through deliver(), so past maxInflight (1000) + ' +
                'maxQueuedMessages (1000, the command\'s default) they are dropped as for any lagging subscriber (Mosquitto 2.0 ' +
                'does the same at its max_inflight_messages 20 + max_queued_messages 1000). A limit, not a restart fault.' : ''));
          }
          const base = data.restart.find((x) => x.count === 0);
          if (r.count > 0 && base !== undefined && Number.isFinite(r.rssAfterListenKb)) {
            report.notes.push(`(b) ${r.name}: memory at the listening line ${(((r.rssAfterListenKb - base.rssAfterListenKb) * 1024) / r.count).toFixed(0)} ` +
              'bytes per restored message over the baseline\'s RSS (GC permitting).');
          }
          if ((r.duplicates ?? 0) > 0) report.notes.push(`(b) ${r.name}: ${r.duplicates} duplicate deliveries.`);
          if (r.leftAfterDrain !== undefined) {
            const left = r.leftAfterDrain;
            report.notes.push(`(b) ${r.name}: one more restart after the drain restored ${left.queued} queued and ${left.inflight} ` +
              `unacknowledged (${left.queued + left.inflight === 0 ? 'as it should: every PUBACK was stored' : 'BUG?: acknowledged messages came back'}).`);
          }
          if (r.exit !== '0') report.notes.push(`(b) ${r.name}: the broker's exit on SIGTERM was ${r.exit}, not 0.`);
        }
      }
    }
    if (!('missing' in mqbench)) rmSync(mqbench.path, { force: true });
    for (const e of data.errors) report.notes.push(`failed: ${e}`);
    report.table = blocks.length === 0 ? 'no case ran' : blocks.join('\n\n');
    report.data = data;
    return report;
  },
};
