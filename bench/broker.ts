// End-to-end broker benchmark: the same load generator (shared/bench/mqbench.c, built with gcc)
// against Petrel, Mosquitto and Aedes, one broker at a time, the broker pinned to core 1 and
// the generator to core 0. Figures are the generator's own: messages received per second in
// the measured window, loss, latency, and the broker's CPU and peak RSS from /proc.
//
// Environment: BENCH_DURATION (seconds per run, default 5), BENCH_RUNS (runs per broker and
// scenario, median kept, default 1), BENCH_BROKERS (comma list, default petrel,mosquitto,aedes).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, renderTable, type BenchGroup, type GroupOptions, type GroupReport } from './harness.js';

interface Scenario {
  name: string;
  args: string[];
}

const SCENARIOS: Scenario[] = [
  { name: 'fan-in QoS 0, 8 pub -> 1 sub', args: ['--scenario', 'fanin', '--pubs', '8', '--qos', '0'] },
  { name: 'fan-in QoS 1, 8 pub -> 1 sub', args: ['--scenario', 'fanin', '--pubs', '8', '--qos', '1'] },
  { name: 'fan-out QoS 0, 1 pub -> 1000 sub', args: ['--scenario', 'fanout', '--subs', '1000', '--qos', '0'] },
  { name: 'pairs QoS 1, 200 pub/sub pairs', args: ['--scenario', 'pairs', '--pubs', '200', '--subs', '200', '--qos', '1'] },
];

/** What mqbench prints as its last line (the fields used here). */
interface MqbenchSummary {
  ok: boolean;
  recv_per_s: number;
  sent: number;
  acked: number;
  lost: number;
  loss_pct: number;
  dup: number;
  p50_us: number;
  p99_us: number;
  broker_cpu_pct: number;
  broker_hwm_kb: number;
}

interface BrokerDef {
  name: string;
  /** The command that runs it on a port (files may go in `dir`), or undefined when it is not installed. */
  command(port: number, dir: string): string[] | undefined;
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');

const BROKERS: BrokerDef[] = [
  { name: 'petrel', command: (port) => [process.execPath, join(here, 'servers', 'petrel.js'), String(port)] },
  {
    name: 'mosquitto',
    command(port, dir) {
      const bin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));
      if (bin === undefined) return undefined;
      const conf = join(dir, 'mosquitto.conf');
      // Issue 9's setup: no persistence, and a queue large enough not to drop under fan-in.
      writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n`);
      return [bin, '-c', conf];
    },
  },
  {
    name: 'aedes',
    command: (port) => existsSync(join(repoRoot, 'node_modules', 'aedes'))
      ? [process.execPath, join(here, 'servers', 'aedes.js'), String(port)]
      : undefined,
  },
];

/** Builds the load generator from shared/bench, or returns why it cannot. */
function buildMqbench(): string | { missing: string } {
  const source = [join(repoRoot, '..', 'shared', 'bench', 'mqbench.c'), join(repoRoot, 'shared', 'bench', 'mqbench.c')].find((p) => existsSync(p));
  if (source === undefined) return { missing: 'the load generator (shared/bench/mqbench.c) is not beside this checkout' };
  const out = join(tmpdir(), 'petrel-mqbench');
  const r = spawnSync('gcc', ['-O2', '-o', out, source, '-lm'], { encoding: 'utf8' });
  if (r.status !== 0) return { missing: `gcc could not build mqbench: ${r.stderr || r.error?.message}` };
  return out;
}

function pinned(core: number, argv: string[]): [string, string[]] {
  const hasTaskset = spawnSync('taskset', ['-c', String(core), 'true']).status === 0;
  return hasTaskset ? ['taskset', ['-c', String(core), ...argv]] : [argv[0], argv.slice(1)];
}

async function waitReady(mqbench: string, port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (spawnSync(mqbench, ['--port', String(port), '--scenario', 'ping', '--duration', '1'], { timeout: 3000 }).status === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`broker on port ${port} did not answer within 10 s`);
}

function runMqbench(mqbench: string, port: number, pid: number, args: string[], duration: number): Promise<MqbenchSummary> {
  const [cmd, argv] = pinned(0, [mqbench, '--port', String(port), '--duration', String(duration), '--broker-pid', String(pid), ...args]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), (duration + 60) * 1000);
    child.on('close', () => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as MqbenchSummary);
      } catch {
        reject(new Error(`mqbench printed no summary: ${last.slice(0, 200)}`));
      }
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
}

let nextPort = 21000 + Math.floor(Math.random() * 2000);

async function measure(mqbench: string, broker: BrokerDef, scenario: Scenario, duration: number): Promise<MqbenchSummary | undefined> {
  const port = nextPort++;
  const dir = mkdtempSync(join(tmpdir(), 'petrel-bench-'));
  try {
    const argv = broker.command(port, dir);
    if (argv === undefined) return undefined;
    const [cmd, args] = pinned(1, argv);
    const child = spawn(cmd, args, { stdio: 'ignore' });
    try {
      await waitReady(mqbench, port);
      return await runMqbench(mqbench, port, child.pid!, scenario.args, duration);
    } finally {
      await stop(child);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number): string => n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);

export const brokerGroup: BenchGroup = {
  name: 'broker',
  description: 'end to end with mqbench: Petrel beside Mosquitto and Aedes (one at a time, pinned)',
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
    const brokers = BROKERS.filter((b) => wanted.includes(b.name));
    const scenarios = SCENARIOS.filter((s) => options.filter === undefined || s.name.toLowerCase().includes(options.filter.toLowerCase()));
    const data: Record<string, Record<string, MqbenchSummary[]>> = {};
    const rows: string[][] = [];
    for (const scenario of scenarios) {
      const medians = new Map<string, MqbenchSummary>();
      for (const broker of brokers) {
        const results: MqbenchSummary[] = [];
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
        if (results.length === 0) continue;
        (data[scenario.name] ??= {})[broker.name] = results;
        const mid = median(results.map((r) => r.recv_per_s));
        medians.set(broker.name, results.find((r) => r.recv_per_s === mid) ?? results[0]);
      }
      const petrel = medians.get('petrel');
      for (const [name, r] of medians) {
        const ratio = petrel !== undefined && name !== 'petrel' && r.recv_per_s > 0 ? `${(petrel.recv_per_s / r.recv_per_s).toFixed(2)}x` : '';
        rows.push([
          scenario.name, name, fmt(r.recv_per_s), r.lost > 0 ? `${r.lost} (${r.loss_pct.toFixed(1)}%)` : '0',
          `${fmt(r.p50_us)} / ${fmt(r.p99_us)}`, `${r.broker_cpu_pct.toFixed(0)}%`, `${(r.broker_hwm_kb / 1024).toFixed(0)} MB`, ratio,
        ]);
      }
      rows.push(['']);
    }
    report.table = renderTable(
      ['scenario', 'broker', 'recv/s', 'lost', 'p50 / p99 us', 'broker cpu', 'peak rss', 'petrel / this'],
      rows,
    );
    report.notes.push(
      `mqbench, MQTT 3.1.1, 64-byte payloads, ${duration} s windows, ${runs} run(s) per cell (median), broker on core 1, generator on core 0.`,
      'Mosquitto: persistence false, max_queued_messages 100000. Petrel: maxQueuedMessages 100000. Aedes: defaults.',
      'Latency under saturation is queueing delay, not service time: compare it only between brokers in the same row.',
    );
    report.data = data;
    return report;
  },
};
