// Benchmark entry point: `node dist/bench/run.js [group ...] [--json] [--filter=text] [--time=ms] [--reps=n]`.
// With no group named, every registered group runs. A group lives in its own file and exports a
// BenchGroup; to add one, import it and append it to GROUPS below.

import { brokerGroup } from './broker.js';
import { codecGroup } from './codec.js';
import { durabilityGroup } from './durability.js';
import { leakGroup } from './leak.js';
import { soakGroup } from './soak.js';
import { transportGroup } from './transport.js';
import { v5Group } from './v5.js';
import {
  DEFAULT_TIMING, machineInfo, renderReport, sinkValue, type BenchGroup, type GroupReport, type TimingOptions,
} from './harness.js';

/** The registry of scenario groups, in the order they run. */
const GROUPS: readonly BenchGroup[] = [codecGroup, brokerGroup, v5Group, durabilityGroup, transportGroup, soakGroup, leakGroup];

interface Args {
  groups: BenchGroup[];
  json: boolean;
  filter: string | undefined;
  timing: TimingOptions;
}

function usage(): string {
  const names = GROUPS.map((g) => `  ${g.name.padEnd(10)} ${g.description}`).join('\n');
  return 'usage: node dist/bench/run.js [group ...] [--json] [--filter=text] [--time=ms] [--reps=n]\n\n' +
    `groups (all when none is named):\n${names}\n\n` +
    '  --json         print the results as JSON after the tables\n' +
    '  --filter=text  run only the cases whose "section name" contains text\n' +
    `  --time=ms      length of each measured run (default ${DEFAULT_TIMING.runMs})\n` +
    `  --reps=n       measured runs per side, median kept (default ${DEFAULT_TIMING.repetitions})\n`;
}

function parseArgs(argv: readonly string[]): Args {
  const byName = new Map(GROUPS.map((g) => [g.name, g]));
  const groups: BenchGroup[] = [];
  let json = false;
  let filter: string | undefined;
  const timing = { ...DEFAULT_TIMING };
  for (const arg of argv) {
    if (arg === '--json') json = true;
    else if (arg.startsWith('--filter=')) filter = arg.slice('--filter='.length);
    else if (arg.startsWith('--time=')) {
      const ms = Number(arg.slice('--time='.length));
      if (!(ms > 0)) throw new UsageError(`bad --time: ${arg}`);
      timing.runMs = ms;
      timing.warmupMs = Math.max(50, ms / 2);
    } else if (arg.startsWith('--reps=')) {
      const n = Number(arg.slice('--reps='.length));
      if (!(Number.isInteger(n) && n > 0)) throw new UsageError(`bad --reps: ${arg}`);
      timing.repetitions = n;
    } else if (arg === '--help' || arg === '-h') throw new UsageError('');
    else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
    else {
      const g = byName.get(arg);
      if (g === undefined) throw new UsageError(`unknown group ${JSON.stringify(arg)}`);
      if (!groups.includes(g)) groups.push(g);
    }
  }
  return { groups: groups.length > 0 ? groups : [...GROUPS], json, filter, timing };
}

class UsageError extends Error {}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (err.message !== '') process.stderr.write(`${err.message}\n\n`);
    process.stderr.write(usage());
    process.exitCode = err.message === '' ? 0 : 2;
    return;
  }

  const machine = machineInfo();
  const log = (line: string): void => { process.stderr.write(`${line}\n`); };
  const reports: GroupReport[] = [];
  const started = performance.now();
  for (const g of args.groups) {
    log(`${g.name}: running...`);
    const t0 = performance.now();
    const report = await g.run({ timing: args.timing, filter: args.filter, log });
    log(`${g.name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    reports.push(report);
  }

  const out: string[] = [
    'Petrel benchmarks',
    `date:    ${machine.date}`,
    `node:    ${machine.node} (V8 ${machine.v8}), ${machine.platform} ${machine.arch}`,
    `cpu:     ${machine.cpu} x ${machine.cpus}, ${machine.memoryGiB} GiB`,
    `timing:  warm-up ${args.timing.warmupMs} ms, ${args.timing.repetitions} x ${args.timing.runMs} ms per side, ` +
      `MB = 10^6 bytes; total ${((performance.now() - started) / 1000).toFixed(1)} s`,
  ];
  for (const r of reports) {
    out.push('', `== ${r.group} ==`, renderReport(r));
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ machine, timing: args.timing, groups: reports }, null, 2)}\n`);
  }
  // Read the sink once so the consumed results are observable.
  if (sinkValue() === 0x7fffffff) process.stderr.write('\n');
}

await main();
