// The `leak` group: does Petrel's memory come back to the same level after the same work, again
// and again? One broker process (bench/servers/petrel.ts, pinned to core 1 as in the `broker`
// group), one mqbench scenario (on core 0) run RUNS times against it, each run with new
// connections and sessions (mqbench's client ids carry its pid). After each run, once the
// clients are gone and the broker has had SETTLE_MS to finish closing them, the broker's VmRSS
// is read from /proc/PID/status. Run 1 warms up (JIT, heap sizing); the growth from run 2 to the
// last one, and the least-squares slope over those runs, are the verdict: a broker that leaks
// something per message or per connection keeps growing with every run, one that does not comes
// back to a steady level. RSS is what an operator sees; it includes V8 heap slack and malloc
// arenas, and moves by several MB with the collector's timing. So the broker also runs with
// --expose-gc and --inspect on a loopback port, and after each run this group evaluates
// `gc(); gc(); process.memoryUsage()` in it over the inspector protocol (Runtime.evaluate): the
// JS heap in use after a full GC is what a leak of JS objects makes grow, without the noise.
// Neither flag costs anything while no session is attached, and a session is attached only for
// that reading (measured: fan-in QoS 1 at the same rate with and without). Not
// HeapProfiler.collectGarbage: after it the broker stays ~45 % slower (V8 keeps tracking object
// moves for the heap profiler). bench/servers/petrel.ts is not changed.
//
// Environment: BENCH_DURATION (seconds per run, default 5), BENCH_LEAK_RUNS (default 10),
// BENCH_LEAK_SCENARIO (fanin, the default: 8 publishers -> 1 subscriber at QoS 1; or pairs:
// 500 publisher/subscriber pairs at QoS 1, which opens and closes 1,000 sessions per run).

import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import {
  buildMqbench, freshPort, petrelCommand, runMqbench, startBroker, waitReady,
} from './broker.js';
import { procStatusKb, stop } from './processes.js';
import { renderTable, type BenchGroup, type GroupOptions, type GroupReport } from './harness.js';

const SCENARIOS: Record<string, { name: string; args: string[] }> = {
  fanin: { name: 'fan-in QoS 1, 8 pub -> 1 sub', args: ['--scenario', 'fanin', '--pubs', '8', '--qos', '1'] },
  pairs: { name: 'pairs QoS 1, 500 pub/sub pairs', args: ['--scenario', 'pairs', '--pubs', '500', '--subs', '500', '--qos', '1'] },
};
const SETTLE_MS = 2000;
/** Growth per run (least squares, runs 2..N) above which RSS counts as growing... */
const RSS_MB_PER_RUN = 1;
/** ...and above which the JS heap in use after a full collection does. */
const HEAP_MB_PER_RUN = 0.25;

interface Run {
  run: number;
  recvPerS: number;
  lost: number;
  rssMb: number;
  hwmMb: number;
  /** JS heap in use after a full collection, and external + array buffers; -1 when the inspector did not answer. */
  heapMb: number;
  externalMb: number;
}

/** The broker's inspector: forces a full GC and reads process.memoryUsage(). */
class Inspector {
  private nextId = 1;
  private readonly waiting = new Map<number, (result: unknown) => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: unknown };
      if (msg.id !== undefined) this.waiting.get(msg.id)?.(msg.error ?? msg.result);
    });
  }

  static async connect(port: number): Promise<Inspector> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as { webSocketDebuggerUrl: string }[];
        const ws = new WebSocket(list[0].webSocketDebuggerUrl);
        await new Promise<void>((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
        return new Inspector(ws);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(100);
      }
    }
  }

  private call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting.delete(id); reject(new Error(`inspector: ${method} timed out`)); }, 30_000);
      this.waiting.set(id, (result) => { clearTimeout(timer); this.waiting.delete(id); resolve(result); });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Heap used and external + array buffer bytes after a full collection, in MB. */
  async heapAfterGc(): Promise<{ heapMb: number; externalMb: number }> {
    const r = await this.call('Runtime.evaluate', { expression: 'gc(); gc(); JSON.stringify(process.memoryUsage())', returnByValue: true }) as
      { result?: { value?: string } };
    const m = JSON.parse(r.result?.value ?? '{}') as { heapUsed?: number; external?: number; arrayBuffers?: number };
    return { heapMb: m.heapUsed === undefined ? -1 : m.heapUsed / 2 ** 20, externalMb: m.external === undefined ? -1 : m.external / 2 ** 20 };
  }

  close(): void {
    this.ws.close();
  }
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export const leakGroup: BenchGroup = {
  name: 'leak',
  description: 'one Petrel process, the same mqbench scenario 10 times: RSS after each run, growth per run',
  async run(options: GroupOptions): Promise<GroupReport> {
    const report: GroupReport = { group: 'leak', oursLabel: 'petrel', theirsLabel: '-', results: [], notes: [] };
    const mqbench = buildMqbench();
    if (typeof mqbench !== 'string') {
      report.table = `skipped: ${mqbench.missing}`;
      return report;
    }
    const duration = Number(process.env.BENCH_DURATION ?? 5);
    const runs = Math.max(3, Number(process.env.BENCH_LEAK_RUNS ?? 10));
    const key = process.env.BENCH_LEAK_SCENARIO ?? 'fanin';
    const scenario = SCENARIOS[key];
    if (scenario === undefined) {
      report.table = `skipped: BENCH_LEAK_SCENARIO must be one of ${Object.keys(SCENARIOS).join(', ')}`;
      return report;
    }
    const port = freshPort();
    const inspectPort = freshPort();
    const [node, ...rest] = petrelCommand(port);
    const child = startBroker([node, '--expose-gc', `--inspect=127.0.0.1:${inspectPort}`, ...rest]);
    const pid = child.pid!;
    const results: Run[] = [];
    let baselineMb = 0;
    // A session attached during the runs would slow the broker down: one per reading, closed after.
    const heap = async (): Promise<{ heapMb: number; externalMb: number }> => {
      let inspector: Inspector | undefined;
      try {
        inspector = await Inspector.connect(inspectPort);
        return await inspector.heapAfterGc();
      } catch (err) {
        options.log(`leak: no heap figures: ${String(err)}`);
        return { heapMb: -1, externalMb: -1 };
      } finally {
        inspector?.close();
      }
    };
    let baselineHeap = { heapMb: -1, externalMb: -1 };
    try {
      await waitReady(mqbench, port);
      await sleep(SETTLE_MS);
      baselineMb = procStatusKb(pid, 'VmRSS') / 1024;
      baselineHeap = await heap();
      for (let i = 1; i <= runs; i++) {
        const r = await runMqbench(mqbench, port, pid, scenario.args, duration);
        if (r.error !== undefined) throw new Error(`mqbench: ${r.error}`);
        await sleep(SETTLE_MS);
        // RSS first, as the run left it; then the forced collection.
        const rssMb = procStatusKb(pid, 'VmRSS') / 1024;
        const hwmMb = procStatusKb(pid, 'VmHWM') / 1024;
        const run: Run = { run: i, recvPerS: r.recv_per_s, lost: r.lost, rssMb, hwmMb, ...await heap() };
        results.push(run);
        options.log(`leak: run ${i}/${runs}: ${(run.recvPerS / 1000).toFixed(1)}k msg/s, lost ${run.lost}, unacked ${r.unacked}, drain ${r.drain_s} s, ` +
          `RSS ${run.rssMb.toFixed(1)} MB, heap after GC ${run.heapMb.toFixed(2)} MB`);
      }
    } catch (err) {
      options.log(`leak: ${String(err)}`);
    } finally {
      await stop(child);
    }
    if (results.length < 3) {
      report.table = `failed after ${results.length} run(s): see the log above`;
      return report;
    }
    const steady = results.slice(1);
    const first = steady[0];
    const last = steady[steady.length - 1];
    const xs = steady.map((r) => r.run);
    const growth = last.rssMb - first.rssMb;
    const perRun = growth / (steady.length - 1);
    const fit = slope(xs, steady.map((r) => r.rssMb));
    const min = Math.min(...steady.map((r) => r.rssMb));
    const max = Math.max(...steady.map((r) => r.rssMb));
    const haveHeap = steady.every((r) => r.heapMb >= 0);
    const heapGrowth = last.heapMb - first.heapMb;
    const heapFit = haveHeap ? slope(xs, steady.map((r) => r.heapMb)) : 0;
    const extFit = haveHeap ? slope(xs, steady.map((r) => r.externalMb)) : 0;
    const mb = (n: number, digits = 1): string => `${n >= 0 ? '+' : ''}${n.toFixed(digits)} MB`;
    const rows = results.map((r) => [
      String(r.run), `${(r.recvPerS / 1000).toFixed(1)}k`, String(r.lost), r.rssMb.toFixed(1), (r.rssMb - baselineMb).toFixed(1), r.hwmMb.toFixed(1),
      r.heapMb >= 0 ? r.heapMb.toFixed(2) : 'n/a', r.externalMb >= 0 ? r.externalMb.toFixed(2) : 'n/a',
    ]);
    const rssGrows = fit > RSS_MB_PER_RUN;
    const heapGrows = haveHeap && (heapFit > HEAP_MB_PER_RUN || extFit > HEAP_MB_PER_RUN);
    const rssLine = `RSS runs ${first.run}-${last.run}: ${mb(growth)} (${perRun.toFixed(2)} MB/run end to end, slope ${fit.toFixed(2)} MB/run, ` +
      `range ${min.toFixed(1)}-${max.toFixed(1)} MB): ${rssGrows ? `GROWS (over ${RSS_MB_PER_RUN} MB/run)` : 'steady'}`;
    const heapLine = haveHeap
      ? `JS heap after full GC runs ${first.run}-${last.run}: ${mb(heapGrowth, 2)} (slope ${heapFit.toFixed(3)} MB/run; external ${extFit.toFixed(3)} MB/run): ` +
        `${heapGrows ? `GROWS (over ${HEAP_MB_PER_RUN} MB/run)` : 'steady'}`
      : 'JS heap after full GC: not available (inspector did not answer)';
    const verdict = heapGrows
      ? 'LEAK: live JS memory grows with every run'
      : rssGrows
        ? (haveHeap ? 'RSS grows but live JS memory does not: allocator / heap sizing, not objects kept (watch it over longer runs)' : 'RSS GROWS')
        : 'no leak seen: memory comes back to the same level after every run';
    report.table = renderTable(['run', 'recv/s', 'lost', 'rss MB', 'over idle', 'peak rss MB', 'heap after GC MB', 'external MB'], rows) +
      `\n\nidle broker before run 1: RSS ${baselineMb.toFixed(1)} MB, heap after GC ${baselineHeap.heapMb.toFixed(2)} MB` +
      `\n${rssLine}\n${heapLine}\nverdict: ${verdict}`;
    report.notes.push(
      `${scenario.name}, mqbench ${duration} s per run, ${runs} runs against one Petrel process (bench/servers/petrel.ts, in memory, started with --expose-gc --inspect), ` +
        `broker on core 1, generator on core 0; RSS (VmRSS) read ${SETTLE_MS / 1000} s after each run, then gc() twice and process.memoryUsage() ` +
        'evaluated in the broker through the inspector; run 1 is the warm-up.',
      `thresholds: least-squares slope over runs 2..${runs} above ${RSS_MB_PER_RUN} MB/run (RSS) or ${HEAP_MB_PER_RUN} MB/run (heap after GC, external).`,
    );
    report.data = { scenario: scenario.name, duration, baselineMb, baselineHeap, runs: results, growthMb: growth, perRunMb: perRun, slopeMbPerRun: fit, heapSlopeMbPerRun: heapFit };
    return report;
  },
};
