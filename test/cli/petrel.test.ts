// The `petrel` command as a user runs it: starts, serves MQTT, stops cleanly on a signal.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { connectClient, within } from '../e2e/harness.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'petrel-cli-test-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

function start(args: string[]) {
  const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const listening = within(new Promise<number>((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /listening on .*:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`petrel exited with ${code}: ${out}`)));
  }), 'petrel to start listening', 10_000);
  return { child, listening, output: () => out };
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`petrel serves MQTT and exits 0 on ${signal}, telling v5 clients it is shutting down`, async () => {
    const p = start(['--host', '127.0.0.1', '--port', '0', '--data-dir', join(dataDir, signal)]);
    const port = await p.listening;
    const client = await connectClient(`mqtt://127.0.0.1:${port}`, 5);
    await client.client.subscribeAsync('cli/t');
    await client.client.publishAsync('cli/t', 'hello');
    assert.equal((await client.nextMessage()).payload, 'hello');
    const disconnected = within(new Promise<number | undefined>((resolve) => {
      client.client.on('disconnect', (packet) => resolve(packet.reasonCode));
    }), 'DISCONNECT from the broker', 5000);
    p.child.kill(signal);
    const [code] = await within(once(p.child, 'exit'), 'petrel to exit', 10_000);
    assert.equal(code, 0, p.output());
    assert.equal(await disconnected, 0x8b);
    client.client.end(true);
  });
}

test('petrel --help and --version print and exit 0', async () => {
  for (const flag of ['--help', '--version']) {
    const child = spawn(process.execPath, [main, flag], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const [code] = await within(once(child, 'exit'), `petrel ${flag}`, 10_000);
    assert.equal(code, 0);
    assert.match(out, flag === '--help' ? /--port PORT/ : /^petrel \d+\.\d+\.\d+/);
  }
});

test('petrel refuses a bad port with a message and exit code 1', async () => {
  const child = spawn(process.execPath, [main, '--port', 'abc'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const [code] = await within(once(child, 'exit'), 'petrel to exit', 10_000);
  assert.equal(code, 1);
  assert.match(err, /--port/);
});
