// Core pinning for the benchmarks: the broker on one core, the load on the other, so that on a
// 2-core machine they do not take each other's time. Without taskset, nothing is pinned.

import { spawnSync } from 'node:child_process';

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
