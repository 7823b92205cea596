// The `transport` group: what TLS and WebSocket cost beside plain TCP, for Petrel and Mosquitto
// in one run. Both brokers run at once, each pinned to core 1 (Petrel: bench/servers/petrel.ts
// with mqtt, mqtts, ws and wss listeners; Mosquitto: the same four when its build takes a
// websockets listener, else mqtt and mqtts), measured one at a time; this process is the load,
// pinned to core 0. The load is raw streams (net, tls, and the `ws` client offering subprotocol
// mqtt) carrying packets pre-encoded with our codec: a client library would measure itself.
//
//   connect  OPENERS concurrent loops of: open (TCP; TLS handshake; WebSocket upgrade), CONNECT
//            (3.1.1, clean, empty client id), CONNACK, DISCONNECT, wait for the broker to close.
//            TLS: a full handshake every time (the client keeps no session; counted and printed).
//   qos0/1   fan-in: PUBLISHERS publishers on bench/<transport>/<i> -> 1 subscriber on
//            bench/<transport>/#, 64-byte payloads, messages/s received by the subscriber. The
//            publishers stay at most WINDOW messages ahead of the subscriber in all (closed loop:
//            both brokers acknowledge QoS 1 on receipt, so only the subscriber bounds the queue),
//            and QoS 1 at most QOS1_WINDOW unacknowledged each; the subscriber acks every delivery.
//
// Every case runs --reps times for --time ms (the first after a --time/2 warm-up), the cases of
// one repetition back to back, in reverse order every other repetition. Medians are kept; a ratio
// is the median of per-repetition ratios (both sides from the same repetition, so a slow spell of
// the machine weighs on both). Certificates: EC P-256, self-signed, made with openssl.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { createWebSocketStream, WebSocket } from 'ws';
import type { BrokerOptions } from '../src/index.js';
import { encode, PacketType } from '../src/protocol/index.js';
import { median, renderTable, type BenchGroup, type GroupOptions, type GroupReport, type TimingOptions } from './harness.js';
import { cpuSeconds, freePort, hasTaskset, machineCpuSeconds, pinned, pinSelf, procStatusKb, sleep, stop } from './processes.js';

const here = dirname(fileURLToPath(import.meta.url));

const [OPENERS, PUBLISHERS, PAYLOAD_BYTES, WINDOW, QOS1_WINDOW] = [8, 16, 64, 8192, 64];
/** PUBLISH per write, and writes per event-loop turn before the subscriber gets its turn. */
const [BATCH_PACKETS, WRITES_PER_TURN] = [32, 32];
/** RAMP_MS: before each measured window after the first (whose ramp is the warm-up). SETTLE_MAX_MS:
 * after a window, the wait for what is in flight; what has not come by then counts as lost. */
const [RAMP_MS, CYCLE_TIMEOUT_MS, SETUP_TIMEOUT_MS, SETTLE_MAX_MS] = [100, 5000, 10_000, 5000];

type Transport = 'mqtt' | 'mqtts' | 'ws' | 'wss';
type BrokerName = 'petrel' | 'mosquitto';
type Scenario = 'connect' | 'qos0' | 'qos1';
const SCENARIOS: Scenario[] = ['connect', 'qos0', 'qos1'];

interface Target { broker: BrokerName; transport: Transport; port: number; pid: number }
const label = (t: Target): string => `${t.broker} ${t.transport}`;

/** brokerUs: broker CPU time per connection or message; *Cpu: % of one core for the broker, this
 * process and every other process; lost: failed connections or messages not received. */
interface Sample { rate: number; brokerUs: number; brokerCpu: number; loadCpu: number; otherCpu: number; lost: number }

// --- processes (the shared helpers are in processes.ts) ----------------------------------------

function memoryMb(pid: number): string {
  const mb = (k: string): string => (procStatusKb(pid, k) / 1024).toFixed(0);
  return `${mb('VmRSS')} MB (peak ${mb('VmHWM')} MB)`;
}

// --- the brokers -------------------------------------------------------------------------------

interface Certificate { cert: string; key: string; pem: Buffer }

function makeCertificate(dir: string): Certificate {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
  { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl could not make a certificate: ${r.stderr || r.error?.message}`);
  // Mosquitto started as root drops to the user `mosquitto` before reading them (a throwaway key).
  chmodSync(dir, 0o755);
  chmodSync(key, 0o644);
  return { cert, key, pem: readFileSync(cert) };
}

interface BrokerProcess { name: BrokerName; child: ChildProcess; ports: Partial<Record<Transport, number>>; stderr: string }

function spawnBroker(name: BrokerName, argv: string[], env: NodeJS.ProcessEnv = process.env): BrokerProcess {
  const [cmd, args] = pinned(1, argv);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const b: BrokerProcess = { name, child, ports: {}, stderr: '' };
  child.stderr!.on('data', (d: Buffer) => { b.stderr = (b.stderr + d.toString()).slice(-2000); });
  return b;
}

async function startPetrel(c: Certificate): Promise<BrokerProcess> {
  const port = await freePort();
  const tlsFiles = { cert: c.cert, key: c.key };
  const options: BrokerOptions = { listeners: [{ protocol: 'mqtts', port: 0, host: '127.0.0.1', tls: tlsFiles },
    { protocol: 'ws', port: 0, host: '127.0.0.1' }, { protocol: 'wss', port: 0, host: '127.0.0.1', tls: tlsFiles }] };
  const b = spawnBroker('petrel', [process.execPath, join(here, 'servers', 'petrel.js'), String(port)],
    { ...process.env, PETREL_OPTIONS: JSON.stringify(options) });
  b.ports.mqtt = port;
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('petrel printed no "ready" within 10 s')), SETUP_TIMEOUT_MS);
    b.child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      for (const m of out.matchAll(/^listening (\S+) (\d+)$/gm)) b.ports[m[1] as Transport] = Number(m[2]);
      if (/^ready$/m.test(out)) { clearTimeout(timer); resolve(); }
    });
    b.child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`petrel exited (${code ?? signal}): ${b.stderr.trim()}`)); });
  });
  return b;
}

/**
 * Mosquitto as in broker.ts (no persistence, max_queued_messages 100000), plus set_tcp_nodelay:
 * Petrel disables Nagle, and with it on, the CONNACK written behind TLS 1.3's session tickets waits
 * for the client's delayed ACK, which caps Mosquitto's TLS connection rate near 160/s here.
 */
async function startMosquitto(dir: string, c: Certificate, transports: Transport[]): Promise<BrokerProcess> {
  const bin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p))!;
  const lines = ['allow_anonymous true', 'persistence false', 'max_queued_messages 100000', 'set_tcp_nodelay true'];
  const ports: Partial<Record<Transport, number>> = {};
  for (const t of transports) {
    ports[t] = await freePort();
    lines.push(`listener ${ports[t]} 127.0.0.1`);
    if (t === 'ws' || t === 'wss') lines.push('protocol websockets');
    if (t === 'mqtts' || t === 'wss') lines.push(`certfile ${c.cert}`, `keyfile ${c.key}`);
  }
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  const b = spawnBroker('mosquitto', [bin, '-c', conf]);
  b.child.stdout!.resume();
  b.ports = ports;
  return b;
}

/** Resolves once a connect cycle works on every port; throws when the broker exits or 10 s pass. */
async function waitServing(b: BrokerProcess, ca: Buffer): Promise<void> {
  const deadline = Date.now() + SETUP_TIMEOUT_MS;
  for (const [transport, port] of Object.entries(b.ports) as [Transport, number][]) {
    while (!(await cycle({ broker: b.name, transport, port, pid: b.child.pid! }, ca))) {
      if (b.child.exitCode !== null || Date.now() > deadline) {
        const why = b.stderr.split('\n').filter((l) => /error/i.test(l)).join(' / ') || b.stderr.trim().slice(-300);
        throw new Error(`${b.name} does not serve ${transport}: ${why || 'no answer'}`);
      }
      await sleep(100);
    }
  }
}

// --- the load ----------------------------------------------------------------------------------

const CONNECT = encode({ type: PacketType.CONNECT, protocolVersion: 4, clean: true, keepAlive: 60, clientId: '' }, 4);
const DISCONNECT = encode({ type: PacketType.DISCONNECT, reasonCode: 0 }, 4);

/** TLS handshakes per target, full or resumed, and what the first one negotiated. */
const handshakes = new Map<string, { full: number; resumed: number; what: string }>();

function noteTls(t: Target, socket: tls.TLSSocket): void {
  let h = handshakes.get(label(t));
  if (h === undefined) {
    const k = socket.getEphemeralKeyInfo();
    h = { full: 0, resumed: 0, what: `${socket.getProtocol()} ${socket.getCipher().name} ${k !== null && 'name' in k ? k.name : '?'}` };
    handshakes.set(label(t), h);
  }
  h[socket.isSessionReused() ? 'resumed' : 'full']++;
}

/** A client byte stream; TLS is given no session to resume, so every handshake is full. */
function open(t: Target, ca: Buffer): Duplex {
  const host = '127.0.0.1';
  if (t.transport === 'mqtt') return net.connect({ port: t.port, host }).setNoDelay(true);
  if (t.transport === 'mqtts') {
    const s = tls.connect({ port: t.port, host, ca });
    s.setNoDelay(true);
    s.once('secureConnect', () => noteTls(t, s));
    return s;
  }
  const ws = new WebSocket(`${t.transport}://${host}:${t.port}/mqtt`, 'mqtt', { perMessageDeflate: false, ca });
  if (t.transport === 'wss') ws.once('upgrade', (res) => noteTls(t, res.socket as tls.TLSSocket));
  return createWebSocketStream(ws);
}

/** Open, CONNECT, CONNACK, DISCONNECT, and the broker's close; false on a refusal, error or timeout. */
function cycle(t: Target, ca: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const s = open(t, ca);
    let acked = false;
    const finish = (ok: boolean): void => { clearTimeout(timer); s.destroy(); resolve(ok); }; // only the first call counts
    const timer = setTimeout(() => finish(false), CYCLE_TIMEOUT_MS);
    s.on('error', () => finish(false));
    // 'end' too: a WebSocket stream closes only once its writable side has ended as well.
    s.on('end', () => finish(acked));
    s.on('close', () => finish(acked));
    s.on('data', (d: Buffer) => {
      if (acked) return;
      // CONNACK of 3.1.1: 20 02 flags 00; 4 bytes come in one piece on loopback.
      if (d.length < 4 || d[0] !== 0x20 || d[3] !== 0) return finish(false);
      acked = true;
      s.write(DISCONNECT);
    });
    s.write(CONNECT);
  });
}

interface Snapshot { at: number; broker: number; load: number; all: number; ops: number; lost: number }

function snapshot(pid: number, ops: number, lost: number): Snapshot {
  const u = process.cpuUsage();
  return { at: performance.now(), broker: cpuSeconds(pid), load: (u.user + u.system) / 1e6, all: machineCpuSeconds(), ops, lost };
}

function sampleOf(a: Snapshot, b: Snapshot): Sample {
  const [s, ops, broker, load] = [(b.at - a.at) / 1000, b.ops - a.ops, b.broker - a.broker, b.load - a.load];
  // /proc counts in clock ticks (10 ms): a broker that used less than one tick shows as unmeasured.
  return { rate: ops / s, brokerUs: ops > 0 && broker > 0 ? (broker / ops) * 1e6 : NaN, brokerCpu: (broker / s) * 100,
    loadCpu: (load / s) * 100, otherCpu: Math.max(0, (b.all - a.all - broker - load) / s) * 100, lost: b.lost - a.lost };
}

/** OPENERS loops of connect cycles for `ms`; cycles open at the deadline finish inside the window. */
async function connectRun(t: Target, ca: Buffer, ms: number): Promise<Sample> {
  const n = { ok: 0, failed: 0 };
  const deadline = performance.now() + ms;
  const opener = async (): Promise<void> => { while (performance.now() < deadline) n[(await cycle(t, ca)) ? 'ok' : 'failed']++; };
  const a = snapshot(t.pid, 0, 0);
  await Promise.all(Array.from({ length: OPENERS }, opener));
  return sampleOf(a, snapshot(t.pid, n.ok, n.failed));
}

/**
 * One connection of a fan-in: splits what it receives into packets (framing only, the broker is
 * trusted) and hands CONNACK / SUBACK to `handshake`, the rest to `onPacket`.
 */
class Link {
  readonly stream: Duplex;
  private rest: Buffer | undefined;
  private waiter: ((ok: boolean) => void) | undefined;

  constructor(t: Target, ca: Buffer, onPacket: (header: number, buf: Buffer, body: number) => void, afterChunk: () => void, errors: string[]) {
    this.stream = open(t, ca);
    this.stream.on('error', (e) => { if (errors.length < 5) errors.push(e.message); });
    this.stream.on('data', (chunk: Buffer) => {
      const buf = this.rest === undefined ? chunk : Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
      let i = 0;
      while (i < buf.length) {
        let len = 0;
        let j = i + 1;
        let complete = false;
        for (let mul = 1; j < buf.length && !complete; mul *= 128) {
          len += (buf[j] & 0x7f) * mul;
          complete = (buf[j++] & 0x80) === 0;
        }
        if (!complete || j + len > buf.length) break;
        const h = buf[i];
        const w = this.waiter;
        if (w !== undefined && (h === 0x20 || h === 0x90)) {
          this.waiter = undefined;
          // CONNACK: return code 0; SUBACK: granted QoS, not 0x80.
          w(h === 0x20 ? buf[j + 1] === 0 : buf[j + 2] !== 0x80);
        } else onPacket(h, buf, j);
        i = j + len;
      }
      if (i < buf.length) this.rest = buf.subarray(i);
      afterChunk();
    });
  }

  async handshake(packet: Buffer, what: string): Promise<void> {
    const ok = await new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within 10 s`)), SETUP_TIMEOUT_MS);
      this.waiter = (v) => { clearTimeout(timer); resolve(v); };
      this.stream.write(packet);
    });
    if (!ok) throw new Error(`${what} refused`);
  }
}

/** PUBLISHERS -> 1 subscriber on one target, its own topics (the idle fan-ins of a broker get nothing). */
class FanIn {
  received = 0;
  published = 0;
  lost = 0;
  readonly errors: string[] = [];
  private readonly sub: Link;
  private readonly pubs: Link[];
  private readonly inflight = new Array<number>(PUBLISHERS).fill(0);
  private readonly blocked = new Array<boolean>(PUBLISHERS).fill(false);
  private readonly nextId = new Array<number>(PUBLISHERS).fill(1);
  /** One PUBLISH per publisher (QoS 1 patches ids into copies), and BATCH_PACKETS of it (QoS 0). */
  private readonly packets: Buffer[];
  private readonly batches: Buffer[];
  private readonly acks: number[] = [];
  private running = false;
  private waitingForWindow = false;
  private scheduled = false;
  private turn = 0;

  constructor(private readonly t: Target, ca: Buffer, private readonly qos: 0 | 1) {
    const payload = Buffer.alloc(PAYLOAD_BYTES, 0x78);
    this.packets = Array.from({ length: PUBLISHERS }, (_, i) =>
      encode({ type: PacketType.PUBLISH, topic: `bench/${t.transport}/${i}`, payload, qos, retain: false, dup: false, packetId: qos }, 4));
    this.batches = this.packets.map((p) => Buffer.concat(new Array<Buffer>(BATCH_PACKETS).fill(p)));
    this.sub = new Link(t, ca, (h, buf, body) => this.onDelivery(h, buf, body), () => this.afterDeliveries(), this.errors);
    this.pubs = Array.from({ length: PUBLISHERS }, (_, i) => new Link(t, ca,
      (h) => { if (h === 0x40) this.inflight[i]--; }, () => this.schedule(), this.errors));
  }

  async connect(): Promise<void> {
    await this.sub.handshake(CONNECT, 'CONNACK');
    await this.sub.handshake(encode({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{
      filter: `bench/${this.t.transport}/#`, qos: this.qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }] }, 4), 'SUBACK');
    await Promise.all(this.pubs.map((p) => p.handshake(CONNECT, 'CONNACK')));
  }

  private outstanding(): number { return this.published - this.received - this.lost; }

  private onDelivery(h: number, buf: Buffer, body: number): void {
    if (h >> 4 !== 3) return;
    this.received++;
    if ((h & 0x06) !== 0) this.acks.push(buf.readUInt16BE(body + 2 + buf.readUInt16BE(body)));
  }

  private afterDeliveries(): void {
    if (this.acks.length > 0) {
      const out = Buffer.allocUnsafe(this.acks.length * 4);
      this.acks.forEach((id, k) => { out[k * 4] = 0x40; out[k * 4 + 1] = 2; out.writeUInt16BE(id, k * 4 + 2); });
      this.acks.length = 0;
      this.sub.stream.write(out);
    }
    if (this.waitingForWindow && this.outstanding() <= WINDOW / 2) {
      this.waitingForWindow = false;
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.scheduled || !this.running) return;
    this.scheduled = true;
    setImmediate(() => { this.scheduled = false; this.pump(); });
  }

  /** Writes round the publishers, skipping one waiting for 'drain' or PUBACKs, within the window. */
  private pump(): void {
    for (let writes = 0; writes < WRITES_PER_TURN; writes++) {
      if (!this.running) return;
      if (this.outstanding() >= WINDOW) { this.waitingForWindow = true; return; }
      let i = -1;
      for (let k = 0; k < PUBLISHERS && i < 0; k++) {
        const j = (this.turn + k) % PUBLISHERS;
        if (!this.blocked[j] && this.inflight[j] < QOS1_WINDOW) i = j;
      }
      if (i < 0) return; // 'drain' or a PUBACK schedules the next turn
      this.turn = (i + 1) % PUBLISHERS;
      if (!this.pubs[i].stream.write(this.qos === 0 ? this.batches[i] : this.withIds(i))) {
        this.blocked[i] = true;
        this.pubs[i].stream.once('drain', () => { this.blocked[i] = false; this.schedule(); });
      }
      if (this.qos === 0) this.published += BATCH_PACKETS;
    }
    this.schedule();
  }

  /** QoS 1: up to BATCH_PACKETS more of publisher i's PUBLISH, each with the next packet id. */
  private withIds(i: number): Buffer {
    const n = Math.min(BATCH_PACKETS, QOS1_WINDOW - this.inflight[i]);
    const p = this.packets[i];
    const idAt = p.length - PAYLOAD_BYTES - 2;
    const out = Buffer.allocUnsafe(n * p.length);
    for (let k = 0; k < n; k++) {
      p.copy(out, k * p.length);
      out.writeUInt16BE(this.nextId[i], k * p.length + idAt);
      this.nextId[i] = this.nextId[i] === 0xffff ? 1 : this.nextId[i] + 1;
    }
    this.inflight[i] += n;
    this.published += n;
    return out;
  }

  start(): void { this.running = true; this.schedule(); }

  /** Stops publishing and waits for what is in flight; what has not come within SETTLE_MAX_MS counts as lost. */
  async stop(): Promise<void> {
    this.running = false;
    this.waitingForWindow = false;
    const until = performance.now() + SETTLE_MAX_MS;
    while ((this.outstanding() > 0 || this.inflight.some((n) => n > 0)) && performance.now() < until) await sleep(10);
    if (this.outstanding() > 0) this.lost = this.published - this.received;
  }

  close(): void { for (const l of [this.sub, ...this.pubs]) l.stream.destroy(); }
}

async function fanInRun(rig: FanIn, t: Target, ms: number, rampMs: number): Promise<Sample> {
  rig.start();
  await sleep(rampMs);
  const a = snapshot(t.pid, rig.received, rig.lost);
  await sleep(ms);
  const b = snapshot(t.pid, rig.received, rig.lost);
  await rig.stop();
  return { ...sampleOf(a, b), lost: rig.lost - a.lost };
}

// --- the group ---------------------------------------------------------------------------------

type Results = Map<string, Sample[]>;
const fmt = (n: number): string => !Number.isFinite(n) ? '-' : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);

async function runScenario(s: Scenario, targets: Target[], ca: Buffer, timing: TimingOptions, results: Results, log: (l: string) => void): Promise<void> {
  const rigs = new Map<Target, FanIn>();
  let live = targets;
  try {
    for (const t of s === 'connect' ? [] : targets) {
      const rig = new FanIn(t, ca, s === 'qos0' ? 0 : 1);
      rigs.set(t, rig);
      await rig.connect();
    }
    for (let rep = 0; rep < timing.repetitions; rep++) {
      for (const t of rep % 2 === 0 ? live : [...live].reverse()) {
        try {
          if (s === 'connect' && rep === 0) await connectRun(t, ca, timing.warmupMs);
          const x = s === 'connect'
            ? await connectRun(t, ca, timing.runMs)
            : await fanInRun(rigs.get(t)!, t, timing.runMs, rep === 0 ? timing.warmupMs : RAMP_MS);
          results.set(`${s} ${label(t)}`, [...(results.get(`${s} ${label(t)}`) ?? []), x]);
          log(`  ${s} ${label(t)} ${rep + 1}/${timing.repetitions}: ${fmt(x.rate)}/s, broker ${x.brokerUs.toFixed(1)} us/op, cpu broker ` +
            `${x.brokerCpu.toFixed(0)}% load ${x.loadCpu.toFixed(0)}% other ${x.otherCpu.toFixed(0)}%${x.lost > 0 ? `, ${x.lost} lost` : ''}`);
        } catch (err) {
          log(`  ${s} ${label(t)}: failed, left out from here on: ${String(err)}`);
          live = live.filter((y) => y !== t);
        }
      }
    }
    for (const [t, rig] of rigs) if (rig.errors.length > 0) log(`  ${s} ${label(t)}: stream errors: ${rig.errors.join('; ')}`);
  } finally {
    for (const rig of rigs.values()) rig.close();
  }
}

/** Median over the repetitions of a / b of one figure, each pair from the same repetition. */
function ratio(results: Results, a: string, b: string, figure: 'rate' | 'brokerUs' = 'rate'): string {
  const x = results.get(a);
  const y = results.get(b);
  const n = Math.min(x?.length ?? 0, y?.length ?? 0);
  const r = median(Array.from({ length: n }, (_, i) => x![i][figure] / y![i][figure]));
  return n === 0 ? '' : Number.isFinite(r) ? `${r.toFixed(2)}x` : '-';
}

export const transportGroup: BenchGroup = {
  name: 'transport',
  description: 'connection rate and fan-in throughput over mqtt, mqtts, ws, wss: Petrel and Mosquitto, ratios',
  async run(options: GroupOptions): Promise<GroupReport> {
    const report: GroupReport = { group: 'transport', oursLabel: 'petrel', theirsLabel: 'mosquitto', results: [], notes: [] };
    const dir = mkdtempSync(join(tmpdir(), 'petrel-transport-'));
    const brokers: BrokerProcess[] = [];
    const results: Results = new Map();
    const notes: string[] = [];
    const unpin = pinSelf(0);
    try {
      const cert = makeCertificate(dir);
      brokers.push(await startPetrel(cert));
      await waitServing(brokers[0], cert.pem);
      if (['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].some((p) => existsSync(p))) {
        let m = await startMosquitto(dir, cert, ['mqtt', 'mqtts', 'ws', 'wss']);
        try {
          await waitServing(m, cert.pem);
        } catch (err) {
          await stop(m.child);
          notes.push(`Mosquitto ws/wss left out: ${String(err).replace(/^Error: /, '')}`);
          m = await startMosquitto(dir, cert, ['mqtt', 'mqtts']);
          await waitServing(m, cert.pem);
        }
        brokers.push(m);
      } else notes.push('Mosquitto left out: not installed');
      handshakes.clear();

      const filter = options.filter?.toLowerCase();
      const targets = brokers.flatMap((b) => (Object.entries(b.ports) as [Transport, number][])
        .map(([transport, port]): Target => ({ broker: b.name, transport, port, pid: b.child.pid! })));
      for (const s of SCENARIOS) {
        const chosen = targets.filter((t) => filter === undefined || `${s} ${label(t)}`.includes(filter));
        if (chosen.length > 0) await runScenario(s, chosen, cert.pem, options.timing, results, options.log);
      }
      notes.push(`RSS after the fan-in runs (their connections closed), peak = VmHWM: ${brokers.map((b) => `${b.name} ${memoryMb(b.child.pid!)}`).join(', ')}.`);
    } finally {
      unpin?.();
      await Promise.all(brokers.map((b) => stop(b.child)));
      rmSync(dir, { recursive: true, force: true });
    }

    const rows: string[][] = [];
    const titles: Record<Scenario, string> = {
      connect: `connect, ${OPENERS} openers (conn/s):`,
      qos0: `fan-in QoS 0, ${PUBLISHERS} pub -> 1 sub (msg/s):`,
      qos1: `fan-in QoS 1, ${PUBLISHERS} pub -> 1 sub (msg/s):`,
    };
    for (const s of SCENARIOS) {
      const cells = [...results].filter(([k]) => k.startsWith(`${s} `));
      if (cells.length === 0) continue;
      if (rows.length > 0) rows.push(['']);
      rows.push([titles[s]]);
      for (const [k, xs] of cells) {
        const [, broker, transport] = k.split(' ');
        const rates = xs.map((x) => x.rate);
        const m = median(rates);
        const pct = (f: (x: Sample) => number): string => `${median(xs.map(f)).toFixed(0)}%`;
        rows.push([
          `  ${broker} ${transport}`, fmt(m), `${m > 0 ? (((Math.max(...rates) - Math.min(...rates)) / m) * 100).toFixed(0) : '-'}%`,
          ((us) => (us.length > 0 ? median(us).toFixed(1) : '-'))(xs.map((x) => x.brokerUs).filter(Number.isFinite)), `${pct((x) => x.brokerCpu)} / ${pct((x) => x.loadCpu)} / ${pct((x) => x.otherCpu)}`,
          String(xs.reduce((n, x) => n + x.lost, 0)),
          transport === 'mqtt' ? '' : ratio(results, k, `${s} ${broker} mqtt`),
          broker === 'petrel' ? ratio(results, k, `${s} mosquitto ${transport}`) : '',
        ]);
      }
    }
    const ratioRows = ([
      ['Petrel TLS / Petrel TCP', 'petrel mqtts', 'petrel mqtt'],
      ['Petrel WS / Petrel TCP', 'petrel ws', 'petrel mqtt'],
      ['Petrel WSS / Petrel TCP', 'petrel wss', 'petrel mqtt'],
      ['Petrel TLS / Mosquitto TLS', 'petrel mqtts', 'mosquitto mqtts'],
      ['Petrel WSS / Mosquitto WSS', 'petrel wss', 'mosquitto wss'],
      ['Petrel TCP / Mosquitto TCP', 'petrel mqtt', 'mosquitto mqtt'],
      ['Mosquitto TLS / Mosquitto TCP', 'mosquitto mqtts', 'mosquitto mqtt'],
    ] as const).map(([name, a, b]) => [name, ...SCENARIOS.flatMap((s) => [ratio(results, `${s} ${a}`, `${s} ${b}`),
      ratio(results, `${s} ${a}`, `${s} ${b}`, 'brokerUs')])]);
    report.table = results.size === 0 ? 'no case ran' : [
      renderTable(['case', 'per s', '±', 'broker us/op', 'cpu broker / load / other', 'lost', 'x own mqtt', 'petrel / mosq'], rows),
      '',
      renderTable(['ratio, median of per-repetition ratios', 'conn/s', 'us/conn', 'QoS 0 msg/s', 'us/msg', 'QoS 1 msg/s', 'us/msg'], ratioRows),
    ].join('\n');
    const { warmupMs, runMs, repetitions } = options.timing;
    report.notes.push(
      `${repetitions} x ${runMs} ms per case (the first after ${warmupMs} ms warm-up), medians; ± = (max - min) / median of the rates. ` +
        `${hasTaskset ? 'Brokers pinned to core 1, load (this process) to core 0.' : 'Not pinned (no taskset).'} cpu: % of one core in ` +
        'the window for the broker, the load, and all other processes (other > 0: the run was disturbed). Where the load is near 100% ' +
        'the generator is the limit and broker us/op (broker CPU time per connection or message) is the figure to compare.',
      'connect: MQTT 3.1.1 CONNECT (clean, empty client id) -> CONNACK -> DISCONNECT -> the broker closes; lost = failed cycles. TLS: ' +
        'EC P-256 self-signed certificate verified by the client; session resumption off: no session is kept, every handshake is full.',
      `fan-in: 64-byte payloads, at most ${WINDOW} messages ahead of the subscriber, QoS 1 at most ${QOS1_WINDOW} unacknowledged per ` +
        `publisher; lost = not received within ${SETTLE_MAX_MS / 1000} s of the window's end.`,
      'Mosquitto: persistence false, max_queued_messages 100000 (as in the broker group) and set_tcp_nodelay true (Petrel disables ' +
        'Nagle; with Nagle, CONNACK behind the TLS 1.3 session tickets waits for a delayed ACK). Petrel: bench/servers/petrel.ts. ' +
        'WebSocket: binary frames, subprotocol mqtt, no compression. x own mqtt: over the same broker on plain TCP; petrel / mosq: ' +
        'over Mosquitto on the same transport. Ratio table: rates, and broker CPU per operation (below 1 = Petrel/TLS/WS cheaper).',
      ...[...handshakes].map(([t, h]) => `TLS ${t}: ${h.full} full handshakes, ${h.resumed} resumed (${h.what})`),
      ...notes,
    );
    report.data = Object.fromEntries(results);
    return report;
  },
};
