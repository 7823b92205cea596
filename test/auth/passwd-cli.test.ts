// `petrel passwd` (src/cli/passwd.ts), run in-process with fake standard streams.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { after, test } from 'node:test';
import { loadPasswordFile, scramCredentials, verifyPassword } from '../../src/auth/password-file.js';
import { createScramAuthenticator, SCRAM_MECHANISMS } from '../../src/auth/scram.js';
import type { EnhancedAuthResult } from '../../src/broker/hooks.js';
import { runPasswd, type PasswdIo } from '../../src/cli/passwd.js';
import { ScramClient } from './scram-client.js';

const dir = mkdtempSync(join(tmpdir(), 'petrel-passwd-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshFile = (): string => join(dir, `passwd-${n++}`);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  return {
    stream: new Writable({ write(chunk: Buffer, _enc, cb) { text += chunk.toString(); cb(); } }),
    text: () => text,
  };
}

/** Runs the command with `input` as a non-terminal stdin. */
async function run(args: string[], input = ''): Promise<Result> {
  const out = sink();
  const err = sink();
  const code = await runPasswd(args, { stdin: Readable.from([Buffer.from(input)]), stdout: out.stream, stderr: err.stream });
  return { code, stdout: out.text(), stderr: err.text() };
}

/** A stdin that says it is a terminal and records raw-mode switches. */
function fakeTty(): { stdin: PasswdIo['stdin']; raw: boolean[]; type: (s: string) => void } {
  const raw: boolean[] = [];
  const stream = new PassThrough() as PassThrough & { isTTY: boolean; setRawMode: (on: boolean) => void };
  stream.isTTY = true;
  stream.setRawMode = (on: boolean) => { raw.push(on); };
  return { stdin: stream, raw, type: (s) => stream.write(s) };
}

async function runTty(args: string[], keys: string[]): Promise<Result & { raw: boolean[] }> {
  const tty = fakeTty();
  const out = sink();
  const err = sink();
  const pending = runPasswd(args, { stdin: tty.stdin, stdout: out.stream, stderr: err.stream });
  for (const k of keys) tty.type(k);
  const code = await pending;
  return { code, stdout: out.text(), stderr: err.text(), raw: tty.raw };
}

const usersOf = (file: string): string[] => readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => l.split(':')[0]!);
const noTempFiles = (): void => assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);

test('-c creates a file readable by its owner only, holding a $7$ line that verifies', async () => {
  const file = freshFile();
  const r = await run(['-c', file, 'alice'], 'secret\n');
  assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.match(readFileSync(file, 'utf8'), /^alice:\$7\$101000\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==\n$/);
  const db = await loadPasswordFile(file);
  assert.equal(await verifyPassword(db, 'alice', Buffer.from('secret')), true);
  assert.equal(await verifyPassword(db, 'alice', Buffer.from('secret\n')), false);
  noTempFiles();
});

test('adds a user, changes a password, deletes a user; other lines stay byte for byte', async () => {
  const file = freshFile();
  writeFileSync(file, '# our users\n');
  assert.equal((await run([file, 'alice'], 'a-pass\n')).code, 0);
  assert.equal((await run([file, 'bob'], 'b-pass\r\nignored second line\n')).code, 0);
  const bobLine = readFileSync(file, 'utf8').split('\n')[2];
  assert.deepEqual(usersOf(file), ['# our users', 'alice', 'bob']);

  assert.equal((await run([file, 'alice'], 'a-new\n')).code, 0);
  let db = await loadPasswordFile(file);
  assert.equal(await verifyPassword(db, 'alice', Buffer.from('a-pass')), false);
  assert.equal(await verifyPassword(db, 'alice', Buffer.from('a-new')), true);
  assert.equal(await verifyPassword(db, 'bob', Buffer.from('b-pass')), true, 'CR stripped, only the first line read');
  assert.equal(readFileSync(file, 'utf8').split('\n')[2], bobLine);

  assert.equal((await run(['-D', file, 'alice'])).code, 0);
  assert.deepEqual(usersOf(file), ['# our users', 'bob']);
  db = await loadPasswordFile(file);
  assert.equal(await verifyPassword(db, 'alice', Buffer.from('a-new')), false);

  const before = readFileSync(file, 'utf8');
  const missing = await run(['-D', file, 'alice']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /user alice is not in/);
  assert.equal(readFileSync(file, 'utf8'), before);
  noTempFiles();
});

test('--scram writes SCRAM-SHA-256 and -512 lines that a SCRAM exchange accepts; a change without it drops them', async () => {
  const file = freshFile();
  assert.equal((await run(['-c', '--scram', file, 'carol'], 'pencil\n')).code, 0);
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[1]!, /^carol:\$scram-sha-256\$4096\$/);
  assert.match(lines[2]!, /^carol:\$scram-sha-512\$4096\$/);
  const db = await loadPasswordFile(file);
  assert.equal(await verifyPassword(db, 'carol', Buffer.from('pencil')), true);
  const auth = createScramAuthenticator((u, m) => scramCredentials(db, u, m));
  for (const mechanism of SCRAM_MECHANISMS) {
    const client = new ScramClient(mechanism, 'carol', 'pencil');
    const state = {};
    const ctx = (step: number, data: string) => ({
      client: { clientId: 'c', username: undefined, protocolVersion: 5 as const, remoteAddress: undefined },
      method: mechanism, data: Buffer.from(data), step, reauthenticate: false, state,
    });
    const first = (await auth(ctx(0, client.first()))) as EnhancedAuthResult & { data: Buffer };
    const last = await auth(ctx(1, client.final(first.data.toString())));
    assert.equal(last.outcome, 'success', mechanism);
    assert.ok(last.outcome === 'success' && client.verify(last.data!.toString()));
  }

  assert.equal((await run([file, 'carol'], 'changed\n')).code, 0);
  const after = await loadPasswordFile(file);
  assert.equal(readFileSync(file, 'utf8').trimEnd().split('\n').length, 1);
  assert.equal(scramCredentials(after, 'carol', 'SCRAM-SHA-256'), undefined);
  assert.equal(await verifyPassword(after, 'carol', Buffer.from('changed')), true);
});

test('on a terminal: asked twice without echo, raw mode restored; a mismatch or Ctrl-C changes nothing', async () => {
  const file = freshFile();
  // Typed key by key, with a typo fixed by backspace; the second answer pasted at once.
  const ok = await runTty(['-c', file, 'dave'], ['s', 'x', '\x7f', 'ecret', '\r', 'secret\r']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(ok.raw, [true, false]);
  assert.equal(ok.stderr, 'Password: \nReenter password: \n', 'prompts only, no echo');
  assert.equal(ok.stdout, '');
  assert.equal(await verifyPassword(await loadPasswordFile(file), 'dave', Buffer.from('secret')), true);

  const before = readFileSync(file, 'utf8');
  const mismatch = await runTty([file, 'dave'], ['one\r', 'two\r']);
  assert.equal(mismatch.code, 1);
  assert.match(mismatch.stderr, /do not match/);
  const cancelled = await runTty([file, 'dave'], ['abc', '\x03']);
  assert.equal(cancelled.code, 1);
  assert.match(cancelled.stderr, /cancelled/);
  assert.deepEqual(cancelled.raw, [true, false]);
  assert.equal(readFileSync(file, 'utf8'), before);
});

test('an existing file keeps its mode; a missing or malformed file is an error and nothing is written', async () => {
  const file = freshFile();
  assert.equal((await run(['-c', file, 'alice'], 'pw\n')).code, 0);
  chmodSync(file, 0o640);
  assert.equal((await run([file, 'bob'], 'pw\n')).code, 0);
  assert.equal(statSync(file).mode & 0o777, 0o640);

  const missing = join(dir, 'does-not-exist');
  const r = await run([missing, 'alice'], 'pw\n');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot read password file .*does-not-exist/);
  assert.ok(!existsSync(missing));

  const bad = freshFile();
  writeFileSync(bad, 'alice:$7$101$x$y\nplain:text\n');
  const b = await run([bad, 'carol'], 'pw\n');
  assert.equal(b.code, 1);
  assert.match(b.stderr, /:1: user "alice"/);
  assert.equal(readFileSync(bad, 'utf8'), 'alice:$7$101$x$y\nplain:text\n');

  const empty = await run([file, 'carol'], '\n');
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /password is empty/);
  const none = await run([file, 'carol'], '');
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no password on standard input/);
  assert.deepEqual(usersOf(file), ['alice', 'bob']);
  noTempFiles();
});

test('usage: --help, bad flags, a password on the command line, bad user names', async () => {
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: petrel passwd/);
  const file = freshFile();
  for (const args of [[], [file], [file, 'alice', 'password-in-argv'], ['--bogus', file, 'alice'], ['-D', '-c', file, 'alice'], ['-D', '--scram', file, 'alice']]) {
    const r = await run(args, 'pw\n');
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /^petrel passwd: /);
  }
  for (const user of ['a:b', '#admin', ' alice']) {
    const r = await run(['-c', file, user], 'pw\n');
    assert.equal(r.code, 1, user);
    assert.match(r.stderr, /user name/);
  }
  assert.ok(!existsSync(file));
});
