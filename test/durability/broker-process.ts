// A real `petrel` process on a real data directory, for tests that kill it.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { within } from '../e2e/harness.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface BrokerProcess {
  child: ChildProcess;
  port: number;
  output(): string;
  /** SIGKILL: no shutdown, no flush, exactly what a crash does. */
  kill(): Promise<void>;
  stop(): Promise<number | null>;
}

export async function startBrokerProcess(dataDir: string, extra: string[] = []): Promise<BrokerProcess> {
  const child = spawn(process.execPath, [main, '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const port = await within(new Promise<number>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /listening on [^\s]*:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', (code) => reject(new Error(`petrel exited with ${code} before listening: ${out}`)));
  }), 'petrel to start', 20_000);
  return {
    child,
    port,
    output: () => out,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await within(exited, 'petrel to die', 10_000);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await within(exited, 'petrel to stop', 15_000);
      return code as number | null;
    },
  };
}
