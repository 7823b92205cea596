// End-to-end broker benchmark: the same load generator (shared/bench/mqbench.c, built with gcc)
// against Petrel, Mosquitto and Aedes, one broker at a time, the broker pinned to core 1 and
// the generator to core 0. Figures are the generator's own: messages received per second in
// the measured window, loss, latency, connections per second and the broker's memory per
// connection, and the broker's CPU and peak RSS (VmHWM) from /proc. One row per line of issue 9's
// table; each Petrel row is checked against the issue's target.
//
// Rows: fan-in QoS 0 and QoS 1 (8 publishers -> 1 subscriber on bench/#), fan-out QoS 0 and
// QoS 1 (1 publisher -> 1000 subscribers, deliveries/s), 500 publisher/subscriber pairs QoS 1,
// latency at a fixed 10k msg/s fan-in QoS 1 (8 x 1250 msg/s), 10,000 idle connections (mqbench
// `conns`), 16 KiB payload fan-in QoS 0 (MB/s of payload, MB = 10^6 bytes). The issue's QoS 1
// fan-in to a persistent session (durability sync vs none) is the `durability` group's.
// Mosquitto runs a second time in the fan-in QoS 1 row with max_inflight_messages 0 (unlimited),
// the issue's "70.2k with unlimited inflight".
//
// Brokers are started with the soft open-file limit raised to the hard one (sh -c 'ulimit -Sn'),
// so that 10,000 connections fit whatever the login shell's soft limit is; mqbench raises its own.
//
// Environment: BENCH_DURATION (seconds per run, default 5; the hold time of the idle-connection
// row), BENCH_RUNS (runs per broker and scenario, median kept, default 1), BENCH_BROKERS (comma
// list, default petrel,mosquitto,aedes), BENCH_CONNS (idle connections, default 10000).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, renderTable, type BenchGroup, type GroupOptions, type GroupReport } from './harness.js';
import { pinned, procStatusKb, stop } from './processes.js';

/** What mqbench prints as its last line for fanin / fanout / pairs (the fields used here). */
export interface MqbenchSummary {
  ok: boolean;
  error?: string;
  recv_per_s: number;
  sent: number;
  acked: number;
  unacked: number;
  lost: number;
  loss_pct: number;
  dup: number;
  p50_us: number;
  p99_us: number;
  broker_cpu_pct: number;
  broker_rss_kb: number;
  broker_hwm_kb: number;
  drain_s: number;
}

/** What mqbench prints for the conns scenario. */
interface MqbenchConns {
  ok: boolean;
  error?: string;
  connected: number;
  failed: number;
  alive_after_hold: number;
  conns_per_s: number;
  connect_p50_us: number;
  connect_p99_us: number;
  rss_before_kb: number;
  rss_after_kb: number;
  bytes_per_conn: number;
  broker_cpu_pct: number;
}

/** How a row's figure reads and compares. */
type Kind = 'rate' | 'latency' | 'conns' | 'mbps';

interface Target {
  /** What the issue asks, as printed. */
  text: string;
  /** Whether Petrel's cell meets it; `others` holds the other brokers' cells of the same row. */
  met(petrel: Cell, others: Map<string, Cell>): boolean;
}

interface Scenario {
  name: string;
  kind: Kind;
  args: string[];
  /** Payload bytes, for MB/s. */
  size?: number;
  /** Brokers run in this row besides the selected ones (by name in BROKERS). */
  extra?: string[];
  /** Issue 9's target for Petrel in this row (absolute, and as a ratio to a broker measured here). */
  target: Target;
}

/** One broker's figures in one row. */
interface Cell {
  kind: Kind;
  /** The figure the median is taken over (recv/s, p50, conn/s). */
  rank: number;
  /** Primary figure: msg/s, deliveries/s, MB/s, conn/s. */
  value: number;
  p50: number;
  p99: number;
  lost: number;
  lostPct: number;
  /** Idle-connection row: broker RSS per connection, bytes. */
  bytesPerConn: number;
  cpu: number;
  peakRssKb: number;
  ok: boolean;
}

const CONNS = Number(process.env.BENCH_CONNS ?? 10_000);
const FIXED_RATE = 10_000;
const FIXED_PUBS = 8;
const BIG = 16 * 1024;

const lost0 = (c: Cell): boolean => c.lost === 0 && c.ok;
const ratioOver = (p: Cell, others: Map<string, Cell>, name: string, want: number): boolean => {
  const o = others.get(name);
  return o !== undefined && o.value > 0 && p.value / o.value >= want;
};

const SCENARIOS: Scenario[] = [
  {
    name: 'fan-in QoS 0, 8 pub -> 1 sub, msg/s', kind: 'rate', args: ['--scenario', 'fanin', '--pubs', '8', '--qos', '0'],
    target: { text: '>= 370k, 2x mosq', met: (p, o) => p.value >= 370e3 && ratioOver(p, o, 'mosquitto', 2) },
  },
  {
    name: 'fan-in QoS 1, 8 pub -> 1 sub, msg/s', kind: 'rate', args: ['--scenario', 'fanin', '--pubs', '8', '--qos', '1'],
    extra: ['mosquitto-inflight0'],
    target: { text: '>= 140k, 0 lost, 2x mosq-if0', met: (p, o) => p.value >= 140e3 && lost0(p) && ratioOver(p, o, 'mosquitto-inflight0', 2) },
  },
  {
    name: 'fan-out QoS 0, 1 pub -> 1000 sub, deliveries/s', kind: 'rate', args: ['--scenario', 'fanout', '--subs', '1000', '--qos', '0'],
    target: { text: '>= 480k, 5x mosq', met: (p, o) => p.value >= 480e3 && ratioOver(p, o, 'mosquitto', 5) },
  },
  {
    name: 'fan-out QoS 1, 1 pub -> 1000 sub, deliveries/s', kind: 'rate', args: ['--scenario', 'fanout', '--subs', '1000', '--qos', '1'],
    target: { text: '>= 200k, 3x mosq', met: (p, o) => p.value >= 200e3 && ratioOver(p, o, 'mosquitto', 3) },
  },
  {
    name: 'pairs QoS 1, 500 pub/sub pairs, msg/s', kind: 'rate', args: ['--scenario', 'pairs', '--pubs', '500', '--subs', '500', '--qos', '1'],
    target: { text: '>= 80k, 2x mosq', met: (p, o) => p.value >= 80e3 && ratioOver(p, o, 'mosquitto', 2) },
  },
  {
    name: `fixed ${FIXED_RATE / 1000}k msg/s fan-in QoS 1, p50 / p99 us`, kind: 'latency',
    args: ['--scenario', 'fanin', '--pubs', String(FIXED_PUBS), '--qos', '1', '--rate', String(FIXED_RATE / FIXED_PUBS)],
    target: {
      text: '<= 55 / 121 us, <= mosq',
      met: (p, o) => {
        const m = o.get('mosquitto');
        return lost0(p) && p.p50 <= 55 && p.p99 <= 121 && (m === undefined || (p.p50 <= m.p50 && p.p99 <= m.p99));
      },
    },
  },
  {
    name: `${CONNS / 1000}k idle connections, conn/s, B/conn`, kind: 'conns',
    args: ['--scenario', 'conns', '--conns', String(CONNS)],
    target: { text: '>= 15k/s, <= 4 KB/conn', met: (p) => p.ok && p.value >= 15e3 && p.bytesPerConn <= 4096 },
  },
  {
    name: '16 KiB fan-in QoS 0, 8 pub -> 1 sub, MB/s', kind: 'mbps', size: BIG,
    args: ['--scenario', 'fanin', '--pubs', '8', '--qos', '0', '--size', String(BIG)],
    target: { text: '>= 1600 MB/s, 2x mosq', met: (p, o) => p.value >= 1600 && ratioOver(p, o, 'mosquitto', 2) },
  },
];

interface BrokerDef {
  name: string;
  /** The command that runs it on a port (files may go in `dir`), or undefined when it is not installed. */
  command(port: number, dir: string): string[] | undefined;
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');

function mosquitto(extraConf: string): BrokerDef['command'] {
  return (port, dir) => {
    const bin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));
    if (bin === undefined) return undefined;
    const conf = join(dir, 'mosquitto.conf');
    // Issue 9's setup: no persistence, and a queue large enough not to drop under fan-in.
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n${extraConf}`);
    return [bin, '-c', conf];
  };
}

/** Petrel's bench server: in memory, maxConnectionRate 0 (bench/servers/petrel.ts). */
export function petrelCommand(port: number): string[] {
  return [process.execPath, join(here, 'servers', 'petrel.js'), String(port)];
}

const BROKERS: BrokerDef[] = [
  { name: 'petrel', command: (port) => petrelCommand(port) },
  { name: 'mosquitto', command: mosquitto('') },
  // max_inflight_messages 0: no limit on QoS 1/2 messages in flight to a client.
  { name: 'mosquitto-inflight0', command: mosquitto('max_inflight_messages 0\n') },
  {
    name: 'aedes',
    command: (port) => existsSync(join(repoRoot, 'node_modules', 'aedes'))
      ? [process.execPath, join(here, 'servers', 'aedes.js'), String(port)]
      : undefined,
  },
];

/** Builds the load generator from shared/bench into a file of this process, or returns why it cannot. */
export function buildMqbench(): string | { missing: string } {
  const source = [join(repoRoot, '..', 'shared', 'bench', 'mqbench.c'), join(repoRoot, 'shared', 'bench', 'mqbench.c')].find((p) => existsSync(p));
  if (source === undefined) return { missing: 'the load generator (shared/bench/mqbench.c) is not beside this checkout' };
  // Per process: another benchmark building at the same moment must not overwrite it under us.
  const out = join(tmpdir(), `petrel-mqbench-${process.pid}`);
  const r = spawnSync('gcc', ['-O2', '-o', out, source, '-lm'], { encoding: 'utf8' });
  if (r.status !== 0) return { missing: `gcc could not build mqbench: ${r.stderr || r.error?.message}` };
  process.once('exit', () => rmSync(out, { force: true }));
  return out;
}

/** The open-file limits this process passes on: soft and hard, as `ulimit` reports them. */
export function fileLimits(): { soft: string; hard: string } {
  const r = spawnSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' });
  const [soft = '?', hard = '?'] = r.stdout.trim().split('\n');
  return { soft, hard };
}

/** Runs argv with the soft open-file limit raised to the hard one; exec keeps the pid. */
function withFileLimit(argv: string[]): string[] {
  return ['sh', '-c', 'ulimit -Sn "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', ...argv];
}

/** Starts a broker pinned to core 1, with the open-file limit raised; its pid is the broker's. */
export function startBroker(argv: string[]): ChildProcess {
  const [cmd, args] = pinned(1, argv);
  const [sh, ...shArgs] = withFileLimit([cmd, ...args]);
  return spawn(sh, shArgs, { stdio: 'ignore' });
}

export async function waitReady(mqbench: string, port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (spawnSync(mqbench, ['--port', String(port), '--scenario', 'ping', '--duration', '1'], { timeout: 3000 }).status === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`broker on port ${port} did not answer within 10 s`);
}

/** Runs mqbench pinned to core 0 and returns its JSON summary (the last stdout line). */
export function runMqbench<T = MqbenchSummary>(mqbench: string, port: number, pid: number, args: string[], duration: number): Promise<T> {
  const [cmd, argv] = pinned(0, [mqbench, '--port', String(port), '--duration', String(duration), '--broker-pid', String(pid), ...args]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), (duration + 90) * 1000);
    child.on('close', () => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`mqbench printed no summary: ${last.slice(0, 200)}`));
      }
    });
  });
}

let nextPort = 21000 + Math.floor(Math.random() * 2000);

export function freshPort(): number {
  return nextPort++;
}

function toCell(scenario: Scenario, raw: MqbenchSummary | MqbenchConns, peakRssKb: number): Cell {
  if (raw.error !== undefined) throw new Error(`mqbench: ${raw.error}`);
  if (scenario.kind === 'conns') {
    const c = raw as MqbenchConns;
    return {
      kind: 'conns', rank: c.conns_per_s, value: c.conns_per_s, p50: c.connect_p50_us, p99: c.connect_p99_us,
      lost: c.failed + (c.connected - c.alive_after_hold), lostPct: 0, bytesPerConn: c.bytes_per_conn,
      cpu: c.broker_cpu_pct, peakRssKb, ok: c.ok,
    };
  }
  const s = raw as MqbenchSummary;
  const value = scenario.kind === 'mbps' ? (s.recv_per_s * (scenario.size ?? 64)) / 1e6 : s.recv_per_s;
  return {
    kind: scenario.kind, rank: scenario.kind === 'latency' ? s.p50_us : s.recv_per_s, value, p50: s.p50_us, p99: s.p99_us,
    lost: s.lost, lostPct: s.loss_pct, bytesPerConn: 0, cpu: s.broker_cpu_pct,
    peakRssKb: Math.max(peakRssKb || 0, s.broker_hwm_kb), ok: s.ok,
  };
}

async function measure(mqbench: string, broker: BrokerDef, scenario: Scenario, duration: number): Promise<Cell | undefined> {
  const port = freshPort();
  const dir = mkdtempSync(join(tmpdir(), 'petrel-bench-'));
  try {
    const argv = broker.command(port, dir);
    if (argv === undefined) return undefined;
    const child = startBroker(argv);
    try {
      await waitReady(mqbench, port);
      const raw = await runMqbench<MqbenchSummary | MqbenchConns>(mqbench, port, child.pid!, scenario.args, duration);
      return toCell(scenario, raw, procStatusKb(child.pid!, 'VmHWM'));
    } finally {
      await stop(child);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number): string => n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
const fmtBytes = (n: number): string => n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n.toFixed(0)} B`;
const times = (n: number): string => Number.isFinite(n) && n > 0 ? `${n.toFixed(2)}x` : '-';

function figure(c: Cell): string {
  switch (c.kind) {
    case 'rate': return fmt(c.value);
    case 'mbps': return `${c.value.toFixed(0)} MB/s`;
    case 'latency': return `${c.p50.toFixed(0)} / ${c.p99.toFixed(0)} us`;
    case 'conns': return `${fmt(c.value)}/s, ${fmtBytes(c.bytesPerConn)}`;
  }
}

/** Petrel against this broker, > 1 when Petrel does better (more per second, less latency or memory). */
function ratio(p: Cell, c: Cell): string {
  switch (c.kind) {
    case 'rate':
    case 'mbps': return times(p.value / c.value);
    case 'latency': return `${times(c.p50 / p.p50)} / ${times(c.p99 / p.p99)}`;
    case 'conns': return `${times(p.value / c.value)} rate, ${times(c.bytesPerConn / p.bytesPerConn)} mem`;
  }
}

export const brokerGroup: BenchGroup = {
  name: 'broker',
  description: "issue 9's table with mqbench: Petrel beside Mosquitto and Aedes (one at a time, pinned)",
  async run(options: GroupOptions): Promise<GroupReport> {
    const report: GroupReport = { group: 'broker', oursLabel: 'petrel', theirsLabel: 'others', results: [], notes: [] };
    const mqbench = buildMqbench();
    if (typeof mqbench !== 'string') {
      report.table = `skipped: ${mqbench.missing}`;
      return report;
    }
    const duration = Number(process.env.BENCH_DURATION ?? 5);
    const runs = Number(process.env.BENCH_RUNS ?? 1);
    const wanted = (process.env.BENCH_BROKERS ?? 'petrel,mosquitto,aedes').split(',');
    const scenarios = SCENARIOS.filter((s) => options.filter === undefined || s.name.toLowerCase().includes(options.filter.toLowerCase()));
    const data: Record<string, Record<string, Cell[]>> = {};
    const rows: string[][] = [];
    const verdicts: string[] = [];
    for (const scenario of scenarios) {
      const cells = new Map<string, Cell>();
      const failed: string[] = [];
      // The extra Mosquitto configuration runs only when Mosquitto itself was asked for.
      const names = [...wanted, ...(scenario.extra ?? []).filter((e) => wanted.some((w) => e.startsWith(w)))];
      for (const broker of BROKERS.filter((b) => names.includes(b.name))) {
        const results: Cell[] = [];
        for (let i = 0; i < runs; i++) {
          options.log(`broker: ${scenario.name}: ${broker.name} run ${i + 1}/${runs}`);
          try {
            const r = await measure(mqbench, broker, scenario, duration);
            if (r === undefined) break;
            results.push(r);
          } catch (err) {
            options.log(`broker: ${broker.name}: ${String(err)}`);
          }
        }
        if (results.length === 0) {
          failed.push(broker.name);
          continue;
        }
        (data[scenario.name] ??= {})[broker.name] = results;
        const mid = median(results.map((r) => r.rank));
        // With an even count the median lies between two runs: keep the run just above it.
        const sorted = [...results].sort((a, b) => a.rank - b.rank);
        cells.set(broker.name, results.find((r) => r.rank === mid) ?? sorted[sorted.length >> 1]);
      }
      const petrel = cells.get('petrel');
      let met: boolean | undefined;
      if (petrel !== undefined) {
        const others = new Map([...cells].filter(([n]) => n !== 'petrel'));
        met = scenario.target.met(petrel, others);
        verdicts.push(`${scenario.name}: ${met ? 'met' : 'NOT met'} (${scenario.target.text})`);
      }
      let first = true;
      for (const [name, c] of cells) {
        const lost = c.kind === 'conns'
          ? (c.lost > 0 ? `${c.lost} failed` : '0')
          : c.lost > 0 ? `${fmt(c.lost)} (${c.lostPct.toFixed(1)}%)` : c.lost < 0 ? `${c.lost}` : '0';
        rows.push([
          first ? scenario.name : '', name, figure(c), lost,
          c.kind === 'latency' ? '' : `${fmt(c.p50)} / ${fmt(c.p99)}`,
          `${c.cpu.toFixed(0)}%`, `${(c.peakRssKb / 1024).toFixed(0)} MB`,
          petrel !== undefined && name !== 'petrel' ? ratio(petrel, c) : '',
          name === 'petrel' ? scenario.target.text : '', name === 'petrel' ? (met ? 'yes' : 'NO') : '',
        ]);
        first = false;
      }
      for (const name of failed) {
        rows.push([first ? scenario.name : '', name, 'failed']);
        first = false;
      }
      rows.push(['']);
    }
    const limits = fileLimits();
    report.table = renderTable(
      ['scenario', 'broker', 'figure', 'lost', 'p50 / p99 us', 'broker cpu', 'peak rss', 'petrel vs this', 'target', 'met'],
      rows,
    ) + `\n\ntargets:\n${verdicts.map((v) => `  ${v}`).join('\n')}`;
    report.notes.push(
      `mqbench, MQTT 3.1.1, 64-byte payloads unless said, ${duration} s windows, ${runs} run(s) per cell (median), broker on core 1, generator on core 0, a fresh broker per run.`,
      'Mosquitto: persistence false, max_queued_messages 100000 (mosquitto-inflight0: and max_inflight_messages 0). Petrel: bench/servers/petrel.ts (in memory, maxQueuedMessages 100000, maxConnectionRate 0). Aedes: defaults.',
      "figure: msg/s (fan-out: deliveries/s) received in the window; latency row: publish-to-delivery p50 / p99 at 8 publishers x 1250 msg/s; connection row: connections/s and the broker's RSS growth per connection after the hold (conns scenario; 'lost' = connections that failed or dropped, 'p50 / p99' = connect latency); 16 KiB row: payload MB/s (10^6 bytes).",
      "petrel vs this: > 1 means Petrel does better (rate: Petrel / this; latency and memory: this / Petrel). The targets are issue 9's (absolute figures from the issue's machine, and the same ratio to Mosquitto measured here); peak rss: the broker's VmHWM.",
      'Latency under saturation is queueing delay, not service time: compare it only between brokers in the same row.',
      `open files: this shell soft ${limits.soft} / hard ${limits.hard}; brokers start with soft = hard, mqbench raises its own.`,
      'QoS 1 fan-in to a persistent session, durability sync vs none (issue 9): not run here, see `npm run bench -- durability`.',
    );
    report.data = data;
    return report;
  },
};
