// The log as an operator reads it: JSON lines, one per connect and disconnect (with its reason
// code), one per failed login, each naming client id, user name, address and listener.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import mqtt from 'mqtt';
import { hashPassword } from '../../src/auth/password-file.js';
import { connectClient, within } from '../e2e/harness.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'petrel-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('JSON log lines for connect, disconnect with reason, failed login; nothing per message at info', async () => {
  writeFileSync(join(dir, 'passwd'), `alice:${hashPassword('pw', { iterations: 1000 })}\n`);
  writeFileSync(join(dir, 'petrel.yaml'), [
    'listeners: [{ name: front, protocol: mqtt, host: 127.0.0.1, port: 0 }]',
    'durability: none',
    'auth: { passwordFile: passwd }',
  ].join('\n'));
  const child = spawn(process.execPath, [main, '--config', join(dir, 'petrel.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  const wake: (() => void)[] = [];
  child.stdout.on('data', (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const p of parts) lines.push(JSON.parse(p) as Record<string, unknown>);
    for (const w of wake.splice(0)) w();
  });
  const waitFor = (pred: (l: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> =>
    within(new Promise((resolve) => {
      const check = (): void => {
        const found = lines.find(pred);
        if (found !== undefined) resolve(found);
        else wake.push(check);
      };
      check();
    }), what, 10_000);
  try {
    const listening = await waitFor((l) => /listening on/.test(String(l.msg)), 'the listening line');
    const port = Number(/:(\d+) /.exec(String(listening.msg))![1]);
    const url = `mqtt://127.0.0.1:${port}`;

    const c = await connectClient(url, 5, { username: 'alice', password: 'pw', clientId: 'logged-client' });
    for (let i = 0; i < 20; i++) await c.client.publishAsync('log/t', 'x', { qos: 1 });
    const connected = await waitFor((l) => l.msg === 'client connected', 'the connect line');
    assert.equal(connected.clientId, 'logged-client');
    assert.equal(connected.username, 'alice');
    assert.equal(connected.remoteAddress, '127.0.0.1');
    assert.equal(connected.listener, 'front');
    assert.equal(connected.level, 30);
    await c.client.endAsync();
    const gone = await waitFor((l) => l.msg === 'client disconnected', 'the disconnect line');
    assert.equal(gone.clientId, 'logged-client');
    assert.equal(gone.by, 'client');
    assert.equal(gone.reasonCode, '0x00');

    await assert.rejects(mqtt.connectAsync(url, { username: 'alice', password: 'nope', reconnectPeriod: 0, protocolVersion: 5, clientId: 'intruder' }));
    const failed = await waitFor((l) => l.msg === 'authentication failed', 'the auth failure line');
    assert.equal(failed.level, 40);
    assert.equal(failed.clientId, 'intruder');
    assert.equal(failed.reasonCode, '0x86');
    assert.equal(failed.remoteAddress, '127.0.0.1');
    assert.ok(lines.length < 12, `nothing per message: ${lines.length} lines`);
  } finally {
    child.kill('SIGTERM');
    await within(once(child, 'exit'), 'petrel to exit', 10_000);
  }
});
