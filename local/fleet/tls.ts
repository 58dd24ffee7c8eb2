import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './sys.js';

/** PEM files of the fleet's private CA, the engines' server certificate and the deployer's client certificate. */
export interface FleetTls {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export const tlsFiles = (stateDir: string): FleetTls => {
  const dir = join(stateDir, 'tls');
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server-key.pem'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client-key.pem'),
  };
};

/**
 * Makes a CA for the fleet and signs a server certificate (localhost, 127.0.0.1: the engine is
 * only reached on the manager's loopback, through the tunnel) and a client certificate, as an
 * operator would for dockerd's --tlsverify. EC P-256, valid 30 days, made anew with every fleet.
 */
export async function makeFleetTls(stateDir: string): Promise<FleetTls> {
  const t = tlsFiles(stateDir);
  await mkdir(t.dir, { recursive: true, mode: 0o700 });
  const key = (out: string) => [
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    out,
  ];
  await run('openssl', [
    'req',
    '-x509',
    ...key(join(t.dir, 'ca-key.pem')),
    '-out',
    t.ca,
    '-days',
    '30',
    '-subj',
    '/CN=swarm-deployer fleet CA',
  ]);
  const sign = async (name: string, cn: string, ext: string, certOut: string, keyOut: string) => {
    const csr = join(t.dir, `${name}.csr`);
    const extFile = join(t.dir, `${name}.ext`);
    await writeFile(extFile, ext);
    await run('openssl', ['req', ...key(keyOut), '-out', csr, '-subj', `/CN=${cn}`]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      t.ca,
      '-CAkey',
      join(t.dir, 'ca-key.pem'),
      '-CAcreateserial',
      '-out',
      certOut,
      '-days',
      '30',
      '-extfile',
      extFile,
    ]);
  };
  await sign(
    'server',
    'localhost',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
    t.serverCert,
    t.serverKey,
  );
  await sign('client', 'swarm-deployer', 'extendedKeyUsage=clientAuth\n', t.clientCert, t.clientKey);
  return t;
}

/** The client credentials as the deployer keeps them in a SecureString parameter: {ca, cert, key}. */
export async function clientCredentials(
  stateDir: string,
): Promise<{ ca: string; cert: string; key: string }> {
  const t = tlsFiles(stateDir);
  const [ca, cert, key] = await Promise.all([
    readFile(t.ca, 'utf8'),
    readFile(t.clientCert, 'utf8'),
    readFile(t.clientKey, 'utf8'),
  ]);
  return { ca, cert, key };
}
