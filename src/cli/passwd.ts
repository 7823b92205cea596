// `petrel passwd`: adds, changes or deletes a user in a password file (see src/auth/password-file.ts
// for the format, which Mosquitto 2.x reads too). The password never comes from the command line,
// where other users of the machine could read it in the process list.

import { randomBytes } from 'node:crypto';
import { open, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  deleteUser, emptyPasswordDb, formatScramCredentials, hashPassword, hasUser, loadPasswordFile,
  makeScramCredentials, serializePasswordFile, setUser, checkUsername, type PasswordDb,
} from '../auth/password-file.js';
import { SCRAM_MECHANISMS } from '../auth/scram.js';

export interface PasswdIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

const HELP = `Usage: petrel passwd [-c] [--scram] FILE USER
       petrel passwd -D FILE USER

Adds USER to the password FILE, or changes USER's password. The password is asked twice on a
terminal; otherwise it is the first line of standard input.

Options:
  -c, --create   create FILE, replacing any file already there
  -D, --delete   delete USER (every line of USER) from FILE
  --scram        also write SCRAM-SHA-256 and SCRAM-SHA-512 credentials for USER, for MQTT 5
                 enhanced authentication; without it, USER's SCRAM lines are removed, since
                 they would still accept the old password
  -h, --help     show this help

A new FILE is created with mode 0600; an existing one keeps its mode. FILE is readable by
Mosquitto 2.x too (it ignores the SCRAM lines, with a warning).
Exit status: 0 done, 1 failed, 2 bad usage.
`;

/** Runs `petrel passwd` with the arguments after `passwd`; resolves to the exit status. */
export async function runPasswd(args: string[], io: PasswdIo): Promise<number> {
  const fail = (message: string, status = 1): number => {
    io.stderr.write(`petrel passwd: ${message}\n`);
    return status;
  };
  let values: { create?: boolean; delete?: boolean; scram?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: {
        create: { type: 'boolean', short: 'c' },
        delete: { type: 'boolean', short: 'D' },
        scram: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    return fail(`${(err as Error).message}\n${HELP}`, 2);
  }
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 2) return fail(`expected FILE and USER\n${HELP}`, 2);
  if (values.delete && (values.create || values.scram)) return fail('-D cannot be combined with -c or --scram', 2);
  const [file, username] = positionals as [string, string];

  try {
    checkUsername(username);
    if (values.delete) {
      const db = await loadPasswordFile(file);
      if (!hasUser(db, username)) return fail(`user ${username} is not in ${file}`);
      await writeAtomically(file, serializePasswordFile(deleteUser(db, username)));
      return 0;
    }
    // Read the file before asking for the password, so a typo in FILE fails at once.
    const db: PasswordDb = values.create ? emptyPasswordDb(file) : await loadPasswordFile(file);
    const password = await readPassword(io);
    const hashes = [hashPassword(password)];
    if (values.scram) {
      for (const mechanism of SCRAM_MECHANISMS) hashes.push(formatScramCredentials(mechanism, makeScramCredentials(password, mechanism)));
    }
    await writeAtomically(file, serializePasswordFile(setUser(db, username, hashes)));
    return 0;
  } catch (err) {
    return fail((err as Error).message);
  }
}

/** Asks twice without echo on a terminal; otherwise takes the first line of stdin. */
async function readPassword(io: PasswdIo): Promise<string> {
  let password: string;
  if (io.stdin.isTTY && typeof io.stdin.setRawMode === 'function') {
    const [first, again] = await readHidden(io, ['Password: ', 'Reenter password: ']);
    if (again !== first) throw new Error('the passwords do not match');
    password = first!;
  } else {
    password = await readLine(io.stdin);
  }
  if (password === '') throw new Error('the password is empty');
  return password;
}

/** One line from a non-terminal stream; the rest of the stream is left unread. */
function readLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const done = (err: Error | undefined, line?: string): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.pause();
      if (err !== undefined) reject(err);
      else resolve(line!);
    };
    const onData = (chunk: Buffer | string): void => {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      const all = Buffer.concat(chunks);
      const nl = all.indexOf(0x0a);
      if (nl >= 0) done(undefined, all.subarray(0, nl).toString('utf8').replace(/\r$/, ''));
    };
    const onEnd = (): void => {
      const all = Buffer.concat(chunks);
      if (all.length === 0) done(new Error('no password on standard input'));
      else done(undefined, all.toString('utf8').replace(/\r$/, ''));
    };
    const onError = (err: Error): void => done(err);
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.resume();
  });
}

/**
 * Reads one line per prompt from a terminal in raw mode, echoing nothing. Lines typed (or
 * pasted) ahead are kept for the next prompt. Ctrl-C, or Ctrl-D on an empty line, gives up.
 */
function readHidden(io: PasswdIo, prompts: string[]): Promise<string[]> {
  const stdin = io.stdin;
  const lines: string[] = [];
  let current = '';
  io.stderr.write(prompts[0]!);
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined): void => {
      stdin.off('data', onData);
      stdin.setRawMode!(false);
      stdin.pause();
      io.stderr.write('\n');
      if (err !== undefined) reject(err);
      else resolve(lines);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          lines.push(current);
          current = '';
          if (lines.length === prompts.length) return done(undefined);
          io.stderr.write(`\n${prompts[lines.length]!}`);
        } else if (ch === '\u0003' || (ch === '\u0004' && current === '')) {
          return done(new Error('cancelled'));
        } else if (ch === '\u007f' || ch === '\b') {
          current = [...current].slice(0, -1).join('');
        } else if (ch >= ' ') {
          current += ch;
        }
      }
    };
    stdin.setRawMode!(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}

/**
 * Replaces `file` so that a crash leaves either the old or the new content, never half: a
 * temporary file in the same directory, fsync, rename, fsync of the directory. A new file is
 * readable by its owner only; an existing one keeps its mode and, where allowed, its owner.
 */
async function writeAtomically(path: string, content: string): Promise<void> {
  // Through a symbolic link, replace the file it points to, not the link.
  const file = await realpath(path).catch(() => path);
  const previous = await stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  const dir = dirname(file);
  const temp = join(dir, `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', previous === undefined ? 0o600 : previous.mode & 0o777);
  try {
    try {
      // The mode given to open() is narrowed by the umask; set it exactly.
      await handle.chmod(previous === undefined ? 0o600 : previous.mode & 0o777);
      if (previous !== undefined) await handle.chown(previous.uid, previous.gid).catch(() => undefined);
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  const d = await open(dir, 'r').catch(() => undefined);
  if (d !== undefined) await d.sync().catch(() => undefined).finally(() => d.close());
}
