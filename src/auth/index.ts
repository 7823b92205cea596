// Authentication and authorization from the config: the password file, TLS client certificates,
// SCRAM, the ACL, and the library's own hooks chained after them. The broker sees only the
// composed hooks; files are (re)loaded here, and a reload that fails keeps what was loaded.

import type { AuthOptions } from '../broker/options.js';
import type {
  AuthenticateContext, ClientInfo, Decision, EnhancedAuthContext, EnhancedAuthResult, Hooks, MaybePromise, PublishContext,
  SubscribeContext,
} from '../broker/hooks.js';
import { isPromise } from '../broker/hooks.js';
import { aclFromRules, compileFor, loadAclFile, type Acl, type ClientAcl } from './acl.js';
import { FailureLimiter } from './failures.js';
import { loadPasswordFile, scramCredentials, verifyPassword, type PasswordDb } from './password-file.js';
import { createScramAuthenticator, isScramMechanism } from './scram.js';

const BAD_CREDENTIALS: Decision = { reasonCode: 0x86 };
const NOT_AUTHORIZED: Decision = { reasonCode: 0x87 };

interface Loaded {
  passwords: PasswordDb | undefined;
  acl: Acl | undefined;
}

export interface Auth {
  /** What the broker calls: the file-based checks, then the library's hooks (both must allow). */
  readonly hooks: Hooks;
  readonly allowsAnonymous: boolean;
  readonly failures: FailureLimiter;
  /** Reads the files the first time; throws with the file's name and what is wrong. */
  load(): Promise<void>;
  /** Reads them again (SIGHUP); says what changed, or throws and keeps the old ones. */
  reload(): Promise<string[]>;
  /** May this connected client receive a message on this topic? Undefined: no ACL, everything may. */
  readonly canReceive: ((client: ClientInfo, topic: string) => boolean) | undefined;
  /** Warnings from the loaded files, for the log. */
  warnings(): string[];
}

export function createAuth(options: AuthOptions, user: Hooks): Auth {
  const certificateUsername = options.certificateUsername ?? 'none';
  const allowsAnonymous = options.allowAnonymous ?? (options.passwordFile === undefined && certificateUsername === 'none');
  const hasAcl = options.aclFile !== undefined || options.acl !== undefined;
  const failures = new FailureLimiter(options.maxFailuresPerMinute ?? 10);
  let loaded: Loaded = { passwords: undefined, acl: undefined };
  // Compiled ACL views per connection, dropped when the ACL is reloaded.
  let views = new WeakMap<ClientInfo, ClientAcl>();

  const read = async (): Promise<Loaded> => {
    const passwords = options.passwordFile === undefined ? undefined : await loadPasswordFile(options.passwordFile);
    let acl: Acl | undefined;
    if (hasAcl) {
      const fromFile = options.aclFile === undefined ? undefined : await loadAclFile(options.aclFile);
      const inline = options.acl === undefined ? undefined : aclFromRules(options.acl, 'config acl');
      acl = fromFile === undefined ? inline : inline === undefined ? fromFile : {
        source: `${fromFile.source} + ${inline.source}`,
        entries: [...fromFile.entries, ...inline.entries],
        warnings: [...fromFile.warnings, ...inline.warnings],
      };
    }
    return { passwords, acl };
  };

  const view = (client: ClientInfo): ClientAcl => {
    let v = views.get(client);
    if (v === undefined) {
      v = compileFor(loaded.acl!, client);
      views.set(client, v);
    }
    return v;
  };

  const fileAuthenticate = (ctx: AuthenticateContext): MaybePromise<Decision> => {
    const { passwords } = loaded;
    if (ctx.certificate !== undefined && certificateUsername !== 'none') {
      // The TLS layer verified the certificate against the listener's CA: that is the proof.
      if (options.certificateAndPassword !== true) return true;
      if (passwords === undefined || ctx.username === undefined || ctx.password === undefined) return BAD_CREDENTIALS;
      return verifyPassword(passwords, ctx.username, ctx.password).then((ok) => ok || BAD_CREDENTIALS);
    }
    // Certificate *and* password: without a certificate nobody gets in.
    if (options.certificateAndPassword === true && certificateUsername !== 'none') return NOT_AUTHORIZED;
    if (ctx.username === undefined) return allowsAnonymous || NOT_AUTHORIZED;
    if (passwords === undefined) return allowsAnonymous || NOT_AUTHORIZED;
    // [MQTT-3.1.2-19] A password without a user name is refused by the decoder already.
    return verifyPassword(passwords, ctx.username, ctx.password ?? Buffer.alloc(0)).then((ok) => ok || BAD_CREDENTIALS);
  };

  const scram = createScramAuthenticator((username, mechanism) => {
    const { passwords } = loaded;
    return passwords === undefined ? undefined : scramCredentials(passwords, username, mechanism);
  });
  const scramEnabled = options.scram !== false && options.passwordFile !== undefined;

  const enhancedAuth = (ctx: EnhancedAuthContext): MaybePromise<EnhancedAuthResult> => {
    if (scramEnabled && isScramMechanism(ctx.method)) return scram(ctx);
    if (user.enhancedAuth !== undefined) return user.enhancedAuth(ctx);
    // 4.12: a method the server does not support.
    return { outcome: 'fail', reasonCode: 0x8c, reasonString: `authentication method ${ctx.method} is not supported` };
  };

  const hooks: Hooks = {
    authenticate: chain(fileAuthenticate, user.authenticate),
    enhancedAuth: scramEnabled || user.enhancedAuth !== undefined ? enhancedAuth : undefined,
    authorizePublish: hasAcl
      ? chain((ctx: PublishContext) => view(ctx.client).canPublish(ctx.topic) || NOT_AUTHORIZED, user.authorizePublish)
      : user.authorizePublish,
    authorizeSubscribe: hasAcl
      ? chain((ctx: SubscribeContext) => view(ctx.client).canSubscribe(ctx.filter) || NOT_AUTHORIZED, user.authorizeSubscribe)
      : user.authorizeSubscribe,
  };

  return {
    hooks,
    allowsAnonymous,
    failures,
    canReceive: hasAcl ? (client, topic) => view(client).canReceive(topic) : undefined,
    async load() {
      loaded = await read();
    },
    async reload() {
      if (options.passwordFile === undefined && options.aclFile === undefined) return [];
      const next = await read();
      const report: string[] = [];
      if (options.passwordFile !== undefined) report.push(`password file ${options.passwordFile}: ${next.passwords!.users.size} users`);
      if (options.aclFile !== undefined) report.push(`ACL ${next.acl!.source}: ${next.acl!.entries.length} rules`);
      loaded = next;
      views = new WeakMap();
      return report;
    },
    warnings: () => [...(loaded.acl?.warnings ?? [])],
  };
}

/** Runs `first`, and `second` only if `first` allows; a refusal of either refuses. */
function chain<C>(first: (ctx: C) => MaybePromise<Decision>, second: ((ctx: C) => MaybePromise<Decision>) | undefined): (ctx: C) => MaybePromise<Decision> {
  if (second === undefined) return first;
  return (ctx) => {
    const d = first(ctx);
    if (isPromise(d)) return d.then((r) => (r === true ? second(ctx) : r));
    return d === true ? second(ctx) : d;
  };
}
