// Test certificates made with the openssl CLI (EC P-256, fast) into a temporary directory:
// two CAs, a server certificate from each (localhost, 127.0.0.1, ::1), and client
// certificates: one from CA A, one from CA B, one from CA A that expired in 2020.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestCerts {
  dir: string;
  caA: CertFiles;
  caB: CertFiles;
  /** CN=localhost, signed by CA A. */
  serverA: CertFiles;
  /** CN=localhost, signed by CA B. */
  serverB: CertFiles;
  /** serverA's key encrypted with the passphrase 'petrel-secret'. */
  serverAEncryptedKey: string;
  /** C=DE, O=Acme, Inc., CN=sensor-1, signed by CA A. */
  client: CertFiles;
  /** CN=intruder, signed by CA B. */
  clientOtherCa: CertFiles;
  /** CN=sensor-old, signed by CA A, valid only in January 2020. */
  clientExpired: CertFiles;
  read(path: string): Buffer;
  cleanup(): void;
}

const OPENSSL = '/usr/bin/openssl';

function openssl(args: string[], cwd: string): void {
  execFileSync(OPENSSL, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EXTENSIONS = `
[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
`;

const CA_CONFIG = `
[ ca ]
default_ca = test_ca
[ test_ca ]
database = db/index.txt
new_certs_dir = db
serial = db/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
x509_extensions = client
[ any ]
countryName = optional
organizationName = optional
commonName = supplied
${EXTENSIONS}
`;

export function makeCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-transport-certs-'));
  writeFileSync(join(dir, 'ext.cnf'), EXTENSIONS);
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

  const ca = (name: string, cn: string): CertFiles => {
    openssl(['req', '-x509', '-new', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '30',
      '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
    return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  };
  const csr = (name: string, subject: string): void => {
    openssl(['req', '-new', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  };
  const leaf = (name: string, subject: string, issuer: CertFiles, extensions: 'server' | 'client'): CertFiles => {
    csr(name, subject);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', issuer.cert, '-CAkey', issuer.key, '-set_serial', `0x${Math.floor(Math.random() * 2 ** 48).toString(16)}`,
      '-days', '30', '-extfile', 'ext.cnf', '-extensions', extensions, '-out', `${name}.pem`], dir);
    return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  };

  const caA = ca('ca-a', 'Petrel Test CA A');
  const caB = ca('ca-b', 'Petrel Test CA B');
  const serverA = leaf('server-a', '/CN=localhost', caA, 'server');
  const serverB = leaf('server-b', '/CN=localhost', caB, 'server');
  openssl(['pkey', '-in', serverA.key, '-aes256', '-passout', 'pass:petrel-secret', '-out', 'server-a-encrypted.key'], dir);
  const serverAEncryptedKey = join(dir, 'server-a-encrypted.key');
  const client = leaf('client', '/C=DE/O=Acme, Inc./CN=sensor-1', caA, 'client');
  const clientOtherCa = leaf('client-other-ca', '/CN=intruder', caB, 'client');

  // Expired: `openssl x509` of OpenSSL 3.0 cannot set a start date in the past; `openssl ca` can.
  mkdirSync(join(dir, 'db'));
  writeFileSync(join(dir, 'db', 'index.txt'), '');
  writeFileSync(join(dir, 'db', 'serial'), '1000\n');
  writeFileSync(join(dir, 'ca.cnf'), CA_CONFIG);
  csr('client-expired', '/CN=sensor-old');
  openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', caA.cert, '-keyfile', caA.key, '-in', 'client-expired.csr',
    '-out', 'client-expired.pem', '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-notext'], dir);
  const clientExpired = { cert: join(dir, 'client-expired.pem'), key: join(dir, 'client-expired.key') };

  return {
    dir, caA, caB, serverA, serverB, serverAEncryptedKey, client, clientOtherCa, clientExpired,
    read: (path) => readFileSync(path),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
