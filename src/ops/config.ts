// The config file: YAML, checked against BROKER_SCHEMA, with every error naming the file, the
// line, the key and what was expected. Relative file paths in it are taken from the file's own
// directory, so a config works wherever the broker is started from.

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { BrokerOptions } from '../broker/options.js';
import { BROKER_SCHEMA } from './options-schema.js';
import { formatPath, validate, type Path } from './schema.js';

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/** The options a config file holds; throws ConfigError listing every problem found. */
export async function loadConfigFile(file: string): Promise<BrokerOptions> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): BrokerOptions {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const where = (offset: number | undefined): string => {
    if (offset === undefined) return file;
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `${where(e.pos[0])}: ${e.message.split('\n')[0]}`));
  }
  const data = doc.toJS() as unknown;
  // An empty file is a valid config: every default applies.
  const value = data === null || data === undefined ? {} : data;
  const issues = validate(BROKER_SCHEMA, value);
  if (issues.length > 0) {
    throw new ConfigError(issues.map((i) => `${where(locate(doc.contents, i.path, i.atKey === true))}: ${formatPath(i.path)}: ${i.message}`));
  }
  return resolvePaths(value as BrokerOptions, dirname(resolve(file)));
}

/** The offset in the text of the node a path names (or of its nearest ancestor that exists). */
function locate(root: unknown, path: Path, atKey: boolean): number | undefined {
  let node = root as Node | null | undefined;
  let offset = node?.range?.[0];
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === part);
      if (pair === undefined) return offset;
      // The value's position, or the key's when the value is empty or the key is the problem.
      const key = pair.key as Node;
      const value = pair.value as Node | null;
      offset = value?.range?.[0] ?? key.range?.[0] ?? offset;
      if (part === path[path.length - 1] && (value === null || atKey)) offset = key.range?.[0] ?? offset;
      node = value;
    } else if (isSeq(node) && typeof part === 'number') {
      const item = node.items[part] as Node | undefined;
      if (item === undefined) return offset;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else return offset;
  }
  return offset;
}

/** File paths in the config, made absolute against the config file's directory. */
function resolvePaths(options: BrokerOptions, base: string): BrokerOptions {
  const at = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(base, p));
  const out: BrokerOptions = { ...options };
  if (out.dataDir !== undefined) out.dataDir = at(out.dataDir);
  if (out.listeners !== undefined) {
    out.listeners = out.listeners.map((l) => l.tls === undefined ? l : {
      ...l, tls: { ...l.tls, cert: at(l.tls.cert)!, key: at(l.tls.key)!, ca: at(l.tls.ca) },
    });
  }
  if (out.auth !== undefined) {
    out.auth = { ...out.auth, passwordFile: at(out.auth.passwordFile), aclFile: at(out.auth.aclFile) };
  }
  return out;
}
