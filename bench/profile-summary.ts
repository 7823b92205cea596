// Summarizes a V8 .cpuprofile (from `node --cpu-prof dist/bench/run.js ...`) by self time per
// function: `node dist/bench/profile-summary.js FILE.cpuprofile [--top=40] [--under=text]`.
// --under keeps only samples with a caller whose "name file:line" contains text, e.g.
// --under=codec.js:312 for the samples under one workload's step() in dist/bench/codec.js.

import { readFileSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function label(f: CallFrame): string {
  const where = f.url === '' ? '' : ` ${path.basename(f.url)}:${f.lineNumber + 1}`;
  return `${f.functionName === '' ? '(anonymous)' : f.functionName}${where}`;
}

function main(): void {
  let file: string | undefined;
  let top = 40;
  let under: string | undefined;
  for (const arg of process.argv.slice(2)) {
    if (arg.startsWith('--top=')) top = Number(arg.slice(6));
    else if (arg.startsWith('--under=')) under = arg.slice(8);
    else file = arg;
  }
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile [--top=40] [--under=text]\n');
    process.exitCode = 2;
    return;
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isUnder = (id: number): boolean => {
    if (under === undefined) return true;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)?.callFrame;
      if (f !== undefined && label(f).includes(under)) return true;
    }
    return false;
  };
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  let total = 0;
  const byFunction = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const f = byId.get(id)?.callFrame;
    if (f === undefined || !isUnder(id)) continue;
    total += us;
    const key = label(f);
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const rows = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top);
  process.stdout.write(`${under === undefined ? 'all samples' : `samples under "${under}"`}: ${(total / 1000).toFixed(0)} ms\n` +
    '  self ms      %  function\n');
  for (const [key, us] of rows) {
    process.stdout.write(`${(us / 1000).toFixed(1).padStart(8)}  ${((100 * us) / total).toFixed(1).padStart(5)}  ${key}\n`);
  }
}

main();
