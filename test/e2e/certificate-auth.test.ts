// TLS client certificates as authentication: the CN becomes the user name (and so feeds %u in
// the ACL), with or without a password as well. Real TLS, certificates made for the test.

import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { hashPassword } from '../../src/auth/password-file.js';
import { makeCerts, type TestCerts } from '../transport/certs.js';
import { within } from './harness.js';

let certs: TestCerts;
before(() => {
  certs = makeCerts();
});
after(() => certs.cleanup());

async function tlsBroker(auth: BrokerOptions['auth']): Promise<{ broker: Broker; url: string }> {
  const acl = join(certs.dir, 'acl');
  writeFileSync(acl, 'pattern readwrite devices/%u/#\n');
  const broker = new Broker({ auth: { aclFile: acl, ...auth } });
  const address = await broker.listen({
    protocol: 'mqtts', host: '127.0.0.1', port: 0,
    tls: { cert: certs.serverA.cert, key: certs.serverA.key, ca: certs.caA.cert, clientCertificates: 'optional' },
  });
  return { broker, url: `mqtts://localhost:${address.port}` };
}

function connect(url: string, options: mqtt.IClientOptions & { withCert?: boolean }): Promise<mqtt.MqttClient> {
  const { withCert = true, ...rest } = options;
  return within(mqtt.connectAsync(url, {
    protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 3000, ca: certs.read(certs.caA.cert),
    ...(withCert ? { cert: certs.read(certs.client.cert), key: certs.read(certs.client.key) } : {}),
    ...rest,
  }), 'a TLS client to connect');
}

test('certificateUsername: cn — a verified certificate logs in as its CN, which the ACL sees as %u', async () => {
  const { broker, url } = await tlsBroker({ certificateUsername: 'cn' });
  const clients: mqtt.MqttClient[] = [];
  try {
    const c = await connect(url, { username: 'someone-else' });
    clients.push(c);
    const [own] = await c.subscribeAsync('devices/sensor-1/#', { qos: 1 });
    assert.equal(own.qos, 1, 'its own subtree, named by the CN (not the CONNECT user name)');
    await assert.rejects(c.subscribeAsync('devices/someone-else/#', { qos: 1 }), /Not authorized/);
    // Without a certificate there are no credentials: anonymous access is off by default here.
    await assert.rejects(connect(url, { withCert: false }), /Not authorized/);
  } finally {
    for (const c of clients) c.end(true);
    await broker.close();
  }
});

test('certificateUsername: subject — the whole subject is the user name the hooks see', async () => {
  const seen: (string | undefined)[] = [];
  const broker = new Broker({
    auth: { certificateUsername: 'subject' },
    hooks: { authenticate: (ctx) => { seen.push(ctx.username); return true; } },
  });
  try {
    const address = await broker.listen({
      protocol: 'mqtts', host: '127.0.0.1', port: 0,
      tls: { cert: certs.serverA.cert, key: certs.serverA.key, ca: certs.caA.cert, clientCertificates: 'optional' },
    });
    const c = await connect(`mqtts://localhost:${address.port}`, { username: 'ignored' });
    c.end(true);
    assert.equal(seen.length, 1);
    assert.match(seen[0] ?? '', /CN=sensor-1/);
    assert.match(seen[0] ?? '', /O=Acme/);
  } finally {
    await broker.close();
  }
});

test('certificateAndPassword: the certificate and the password file must both agree', async () => {
  const passwd = join(certs.dir, 'passwd');
  writeFileSync(passwd, `sensor-1:${hashPassword('pin', { iterations: 1000 })}\n`);
  const { broker, url } = await tlsBroker({ certificateUsername: 'cn', certificateAndPassword: true, passwordFile: passwd });
  try {
    const ok = await connect(url, { username: 'ignored', password: 'pin' });
    ok.end(true);
    await assert.rejects(connect(url, { username: 'sensor-1', password: 'wrong' }), /Bad User Name or Password/);
    // "And": a password alone is not enough.
    await assert.rejects(connect(url, { withCert: false, username: 'sensor-1', password: 'pin' }), /Not authorized/);
  } finally {
    rmSync(passwd, { force: true });
    await broker.close();
  }
});
