// Shared timing helpers for the benchmark groups: a workload is a step function run in timed
// slices; A/B cases run each side interleaved over several repetitions and keep the medians.

import os from 'node:os';

/** One side of a case: `step()` does `opsPerStep` operations moving `bytesPerStep` bytes. */
export interface Workload {
  /** Does one step of work and returns a number derived from its results (consumed, so the JIT keeps the work). */
  step(): number;
  readonly opsPerStep: number;
  /** Bytes on the wire per step, for MB/s; 0 when throughput in bytes means nothing. */
  readonly bytesPerStep: number;
}

/** A comparison: the same workload done by our code and by a baseline library. */
export interface PairCase {
  readonly section: string;
  readonly name: string;
  /** What one operation is: "packets", "deliveries", ... */
  readonly unit: string;
  /** Factories, called right before the case runs, so big inputs live only while needed. */
  ours(): Workload;
  theirs(): Workload;
}

export interface TimingOptions {
  /** Warm-up per side, before the measured repetitions. */
  warmupMs: number;
  /** Length of one measured run. */
  runMs: number;
  /** Measured runs per side; the median is kept. */
  repetitions: number;
}

export const DEFAULT_TIMING: TimingOptions = { warmupMs: 150, runMs: 300, repetitions: 3 };

export interface SideStats {
  /** Median over the repetitions. */
  opsPerSec: number;
  /** Median, in MB/s (10^6 bytes). */
  mbPerSec: number;
  /** ops/s of every repetition, in run order. */
  samples: number[];
  /** (max - min) / median of the samples. */
  spread: number;
}

export interface CaseResult {
  section: string;
  name: string;
  unit: string;
  ours: SideStats;
  theirs: SideStats;
  /** Median over the repetitions of ours / theirs, each from the same repetition. */
  ratio: number;
}

export interface GroupOptions {
  timing: TimingOptions;
  /** Only cases whose "section name" contains this (case-insensitive), when set. */
  filter: string | undefined;
  /** Progress lines go here (stderr), never into the table. */
  log(line: string): void;
}

export interface GroupReport {
  group: string;
  /** Column titles of the two sides. */
  oursLabel: string;
  theirsLabel: string;
  results: CaseResult[];
  /** Free-form remarks the group wants printed under its table (cross-checks, caveats). */
  notes: string[];
  /** A group whose results are not ours-vs-theirs pairs renders its own table here. */
  table?: string;
  /** Raw figures for --json, when `results` does not hold them. */
  data?: unknown;
}

/** A scenario group, as selected on the command line of bench/run.ts. */
export interface BenchGroup {
  readonly name: string;
  readonly description: string;
  run(options: GroupOptions): Promise<GroupReport>;
}

// --- keeping results alive -------------------------------------------------------------------

let sink = 0;

/** Folds a value into a module-level sink, so no computed result is dead code. */
export function consume(value: number): void {
  sink = (sink + value) | 0;
}

export function sinkValue(): number {
  return sink;
}

// --- timing --------------------------------------------------------------------------------

const SLICE_NS = 1_000_000n; // aim for timed slices of at least 1 ms

/**
 * Runs the workload for about `ms` while growing the number of steps per timed slice until a
 * slice lasts at least 1 ms. Returns that number of steps, to be used by `measure`.
 */
export function warmUp(w: Workload, ms: number, initialSteps = 1): number {
  let steps = initialSteps;
  const budget = BigInt(Math.round(ms * 1e6));
  const start = process.hrtime.bigint();
  let acc = 0;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < steps; i++) acc += w.step();
    const t1 = process.hrtime.bigint();
    if (t1 - t0 < SLICE_NS) steps *= 2;
    if (t1 - start >= budget) break;
  }
  consume(acc);
  return steps;
}

/** Runs the workload in slices of `steps` steps for at least `ms`; returns operations per second. */
export function measure(w: Workload, ms: number, steps: number): number {
  const budget = BigInt(Math.round(ms * 1e6));
  let done = 0;
  let acc = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  do {
    for (let i = 0; i < steps; i++) acc += w.step();
    done += steps;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < budget);
  consume(acc);
  return (done * w.opsPerStep) / (Number(elapsed) / 1e9);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function stats(samples: number[], bytesPerOp: number): SideStats {
  const med = median(samples);
  return {
    opsPerSec: med,
    mbPerSec: (med * bytesPerOp) / 1e6,
    samples,
    spread: med > 0 ? (Math.max(...samples) - Math.min(...samples)) / med : 0,
  };
}

/**
 * Runs both sides of a case: a warm-up each, then `repetitions` rounds alternating which side
 * goes first (ours/theirs, theirs/ours, ...), and keeps the median of each side.
 */
export function runPair(c: PairCase, timing: TimingOptions): CaseResult {
  const ours = c.ours();
  const theirs = c.theirs();
  const oursSteps = warmUp(ours, timing.warmupMs);
  const theirsSteps = warmUp(theirs, timing.warmupMs);
  const a: number[] = [];
  const b: number[] = [];
  for (let rep = 0; rep < timing.repetitions; rep++) {
    if (rep % 2 === 0) {
      a.push(measure(ours, timing.runMs, oursSteps));
      b.push(measure(theirs, timing.runMs, theirsSteps));
    } else {
      b.push(measure(theirs, timing.runMs, theirsSteps));
      a.push(measure(ours, timing.runMs, oursSteps));
    }
  }
  return {
    section: c.section,
    name: c.name,
    unit: c.unit,
    ours: stats(a, ours.bytesPerStep / ours.opsPerStep),
    theirs: stats(b, theirs.bytesPerStep / theirs.opsPerStep),
    // Paired: each repetition's two runs are back to back, so a slow spell of the machine
    // weighs on both; the median of the per-repetition ratios discounts it.
    ratio: median(a.map((x, i) => x / b[i])),
  };
}

/** Runs every case that passes the filter, logging one progress line per case. */
export function runCases(cases: readonly PairCase[], options: GroupOptions): CaseResult[] {
  const filter = options.filter?.toLowerCase();
  const selected = filter === undefined
    ? cases
    : cases.filter((c) => `${c.section} ${c.name}`.toLowerCase().includes(filter));
  const results: CaseResult[] = [];
  selected.forEach((c, i) => {
    const t0 = performance.now();
    const r = runPair(c, options.timing);
    results.push(r);
    options.log(`  [${i + 1}/${selected.length}] ${c.section} ${c.name}: ${r.ratio.toFixed(2)}x ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  });
  return results;
}

// --- reporting -------------------------------------------------------------------------------

export interface MachineInfo {
  date: string;
  node: string;
  v8: string;
  platform: string;
  arch: string;
  cpu: string;
  cpus: number;
  memoryGiB: number;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.type()} ${os.release()}`,
    arch: process.arch,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  };
}

/** 3 significant digits with k/M/G: 1.23M, 456k, 7.89. */
export function formatRate(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units: [number, string][] = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [scale, suffix] of units) {
    if (n >= scale) return `${(n / scale).toPrecision(3)}${suffix}`;
  }
  return n.toPrecision(3);
}

function formatMb(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function formatSpread(n: number): string {
  return `${(n * 100).toFixed(0)}%`;
}

/** A plain-text table, left-aligned first column, right-aligned others. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows) out.push(line(r));
  return out.join('\n');
}

export function renderReport(report: GroupReport): string {
  const header = [
    'case', 'unit',
    `${report.oursLabel} ops/s`, 'MB/s', '±',
    `${report.theirsLabel} ops/s`, 'MB/s', '±',
    'ours/theirs',
  ];
  const lines: string[] = [];
  if (report.table !== undefined) {
    lines.push(report.table);
    for (const n of report.notes) lines.push(`note: ${n}`);
    return lines.join('\n');
  }
  let section: string | undefined;
  const rows: string[][] = [];
  for (const r of report.results) {
    if (r.section !== section) {
      if (section !== undefined) rows.push(['']);
      rows.push([`${r.section}:`]);
      section = r.section;
    }
    rows.push([
      `  ${r.name}`, r.unit,
      formatRate(r.ours.opsPerSec), formatMb(r.ours.mbPerSec), formatSpread(r.ours.spread),
      formatRate(r.theirs.opsPerSec), formatMb(r.theirs.mbPerSec), formatSpread(r.theirs.spread),
      `${r.ratio.toFixed(2)}x`,
    ]);
  }
  lines.push(renderTable(header, rows));
  if (report.notes.length > 0) {
    lines.push('');
    for (const n of report.notes) lines.push(`note: ${n}`);
  }
  return lines.join('\n');
}
