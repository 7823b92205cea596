#!/usr/bin/env node
// The `petrel` command: one subcommand per job, `start` when none is named.

import { PETREL_VERSION } from '../broker/version.js';
import { runCheckConfig } from './check-config.js';
import { runPasswd } from './passwd.js';
import { runPub } from './pub.js';
import { runSub } from './sub.js';
import { runStart, START_HELP } from './start.js';

const HELP = `Usage: petrel [command] [options]

An MQTT 3.1 / 3.1.1 / 5.0 broker.

Commands:
  start           run the broker (the default; \`petrel start --help\`)
  check-config    check a configuration file without starting (\`petrel check-config FILE\`)
  passwd          add, change or delete a user in a password file (\`petrel passwd --help\`)
  pub             publish a message, as mosquitto_pub does (\`petrel pub --help\`)
  sub             subscribe and print messages, as mosquitto_sub does (\`petrel sub --help\`)

  -v, --version   show the version

`;

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  start: runStart,
  'check-config': runCheckConfig,
  pub: runPub,
  sub: runSub,
  passwd: (args) => runPasswd(args, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }),
};

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '-v' || first === '--version') {
    process.stdout.write(`petrel ${PETREL_VERSION}\n`);
    return 0;
  }
  if (first === 'help' || ((first === '-h' || first === '--help') && rest.length === 0)) {
    process.stdout.write(HELP + START_HELP);
    return 0;
  }
  if (first !== undefined && !first.startsWith('-')) {
    const command = COMMANDS[first];
    if (command === undefined) {
      process.stderr.write(`petrel: unknown command '${first}'\n\n${HELP}`);
      return 2;
    }
    return command(rest);
  }
  return runStart(argv);
}

main(process.argv.slice(2)).then((code) => {
  // `start` keeps running (it resolves undefined exit codes as "keep the process alive").
  if (code >= 0) process.exitCode = code;
}, (err: unknown) => {
  process.stderr.write(`petrel: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
