// The `petrel` command with a config file: check-config, start, and SIGHUP reloading the
// password file without dropping a connection.

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
const example = fileURLToPath(new URL('../../../petrel.example.yaml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'petrel-cli-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], stdin?: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [main, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  child.stdin.end(stdin ?? '');
  const [code] = await within(once(child, 'exit'), `petrel ${args.join(' ')}`, 10_000);
  return { code: code as number | null, out, err };
}

test('check-config: the example file is valid', async () => {
  const r = await run(['check-config', example]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /valid/);
});

test('check-config: a bad file exits 1 naming the line, the key and what was expected', async () => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'listeners:\n  - protocol: mqtt\n    port: 99999\ndurability: eventually\n');
  const r = await run(['check-config', file]);
  assert.equal(r.code, 1);
  assert.match(r.err, /bad\.yaml:3:11: listeners\[0\]\.port: expected an integer from 0 to 65535, got 99999/);
  assert.match(r.err, /bad\.yaml:4:13: durability: expected one of sync, batched, none, got "eventually"/);
});

test('check-config: files the config names must load (a missing password file, a broken certificate)', async () => {
  const file = join(dir, 'missing.yaml');
  writeFileSync(join(dir, 'garbage.pem'), 'not a certificate\n');
  writeFileSync(file, [
    'listeners:',
    '  - { protocol: mqtts, port: 8883, tls: { cert: garbage.pem, key: garbage.pem } }',
    'auth: { passwordFile: no-such-file }',
  ].join('\n'));
  const r = await run(['check-config', file]);
  assert.equal(r.code, 1);
  assert.match(r.err, /listeners\[0\]\.tls: cannot use .*garbage\.pem/);
  assert.match(r.err, /auth: .*no-such-file/);
});

test('start: an invalid config stops the broker before it listens, with the same message', async () => {
  const file = join(dir, 'typo.yaml');
  writeFileSync(file, 'maxInfligth: 10\n');
  const r = await run(['--config', file]);
  assert.equal(r.code, 1);
  assert.match(r.err, /typo\.yaml:1:1: maxInfligth: unknown key \(did you mean 'maxInflight'\?\)/);
});

test('start with a config; SIGHUP reloads the password file and keeps open connections', async () => {
  const passwd = join(dir, 'passwd');
  writeFileSync(passwd, `alice:${hashPassword('first', { iterations: 1000 })}\n`);
  const file = join(dir, 'petrel.yaml');
  writeFileSync(file, [
    'listeners: [{ protocol: mqtt, host: 127.0.0.1, port: 0 }]',
    'durability: none',
    'auth: { passwordFile: passwd }',
  ].join('\n'));
  const child = spawn(process.execPath, [main, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const wake: (() => void)[] = [];
  const onOutput = (d: Buffer): void => {
    out += d.toString();
    for (const w of wake.splice(0)) w();
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);
  const waitFor = (re: RegExp, what: string): Promise<RegExpExecArray> => within(new Promise((resolve, reject) => {
    const check = (): void => {
      const m = re.exec(out);
      if (m !== null) resolve(m);
      else wake.push(check);
    };
    child.once('exit', (code) => reject(new Error(`petrel exited with ${code}: ${out}`)));
    check();
  }), what, 10_000);
  try {
    const port = Number((await waitFor(/listening on 127\.0\.0\.1:(\d+)/, 'the listening line'))[1]);
    const url = `mqtt://127.0.0.1:${port}`;
    const kept = await connectClient(url, 5, { username: 'alice', password: 'first' });
    await kept.client.subscribeAsync('reload/t');

    writeFileSync(passwd, `alice:${hashPassword('second', { iterations: 1000 })}\n`);
    writeFileSync(file, [
      'listeners: [{ protocol: mqtt, host: 127.0.0.1, port: 0 }]',
      'durability: none',
      'auth: { passwordFile: passwd }',
      'maxConnections: 50',
      'maxInflight: 10',
      'log: { level: debug }',
    ].join('\n'));
    child.kill('SIGHUP');
    await waitFor(/reload: password file .*: 1 users/, 'the reload line');
    await waitFor(/reload: maxConnections: 100000 -> 50/, 'the limit that changed, applied');
    await waitFor(/reload: maxInflight: changed in the file; takes effect at the next start/, 'the option that needs a restart, named');
    await waitFor(/reload: log\.level: info -> debug/, 'the log level');

    await assert.rejects(mqtt.connectAsync(url, { username: 'alice', password: 'first', reconnectPeriod: 0, protocolVersion: 5 }), /Bad User Name or Password|Not authorized|bad/i);
    const fresh = await connectClient(url, 5, { username: 'alice', password: 'second' });
    await fresh.client.publishAsync('reload/t', 'still here');
    assert.equal((await kept.nextMessage()).payload, 'still here', 'the connection opened before the reload still works');

    writeFileSync(passwd, 'alice:plaintext-is-refused\n');
    child.kill('SIGHUP');
    await waitFor(/auth files not reloaded, the old ones stay: .*passwd:1/, 'the failed reload line');
    const after = await connectClient(url, 5, { username: 'alice', password: 'second' });
    await Promise.all([kept.end(), fresh.end(), after.end()]);
  } finally {
    child.kill('SIGTERM');
    await within(once(child, 'exit'), 'petrel to exit', 10_000);
  }
});
