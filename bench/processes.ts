// The benchmarks' processes: core pinning (the broker on one core, the load on the other, so
// that on a 2-core machine they do not take each other's time; without taskset nothing is
// pinned), CPU time and memory from /proc, stopping a child, a free port.

import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';

export const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/** The command line that runs `argv` pinned to `core`. */
export function pinned(core: number, argv: string[]): [string, string[]] {
  return hasTaskset ? ['taskset', ['-c', String(core), ...argv]] : [argv[0], argv.slice(1)];
}

/** Pins every thread of this process to `core`; returns how to undo it, or undefined when it cannot. */
export function pinSelf(core: number): (() => void) | undefined {
  if (!hasTaskset) return undefined;
  const now = spawnSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' });
  const previous = /:\s*(\S+)\s*$/.exec(now.stdout?.trim() ?? '')?.[1];
  if (now.status !== 0 || previous === undefined) return undefined;
  if (spawnSync('taskset', ['-a', '-c', '-p', String(core), String(process.pid)]).status !== 0) return undefined;
  return () => { spawnSync('taskset', ['-a', '-c', '-p', previous, String(process.pid)]); };
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** CPU seconds (user + system) a process has used, from /proc; NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime (fields 14, 15)
  } catch {
    return Number.NaN;
  }
}

/** Busy CPU seconds of the whole machine: user, nice, system, irq, softirq, steal. */
export function machineCpuSeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / CLOCK_TICKS;
}

/** A field of /proc/PID/status in kB (VmRSS, VmHWM); NaN once the process is gone. */
export function procStatusKb(pid: number, key: string): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? Number.NaN : Number(m[1]);
  } catch {
    return Number.NaN;
  }
}

/** SIGTERM, then SIGKILL after 3 s; resolves once the child has exited. */
export function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A port nobody listens on now (bound, then released). */
export function freePort(): Promise<number> {
  const s = createServer();
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)); });
  });
}
