// `petrel check-config FILE`: validates a config file the way `start` would, without starting.

import { parseArgs } from 'node:util';
import { createAuth } from '../auth/index.js';
import { resolveOptions, type BrokerOptions } from '../broker/options.js';
import { ConfigError, loadConfigFile } from '../ops/config.js';
import { loadSecureOptions } from '../transport/tls.js';

const HELP = `Usage: petrel check-config FILE

Checks a configuration file: YAML syntax, every key against the schema, and that the files it
names (certificates, password file, ACL file) can be read and parsed. Exits 0 when valid, 1 with
one line per problem (file:line:column: key: what was expected) otherwise.
`;

export async function runCheckConfig(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' } }, allowPositionals: true });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`petrel check-config: expected one FILE\n\n${HELP}`);
    return 2;
  }
  const file = positionals[0];
  try {
    const options = await loadConfigFile(file);
    resolveOptions(options);
    const problems = await checkReferencedFiles(options);
    if (problems.length > 0) throw new ConfigError(problems.map((p) => `${file}: ${p}`));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  process.stdout.write(`${file}: valid\n`);
  return 0;
}

/** Loads what the broker would load at start: certificates, password file, ACL. */
async function checkReferencedFiles(options: BrokerOptions): Promise<string[]> {
  const problems: string[] = [];
  for (const [i, l] of (options.listeners ?? []).entries()) {
    if (l.tls === undefined) continue;
    try {
      await loadSecureOptions(l.tls);
    } catch (err) {
      problems.push(`listeners[${i}].${(err as Error).message}`);
    }
  }
  const auth = createAuth(options.auth ?? {}, {});
  try {
    await auth.load();
    for (const warning of auth.warnings()) process.stderr.write(`warning: ${warning}\n`);
  } catch (err) {
    problems.push(`auth: ${(err as Error).message}`);
  }
  return problems;
}
