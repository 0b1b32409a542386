/**
 * A throwaway certificate chain made with openssl for TLS tests: a root CA, a server certificate
 * it signs for localhost / 127.0.0.1, a client certificate it signs (CN = the role name, for
 * `cert` authentication), and a second, unrelated CA. The server's key belongs to the postgres
 * OS user (mode 0600: PostgreSQL refuses a key others can read); the client's key to us, 0600.
 */
import { execa } from 'execa';
import { chmodSync, chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, postgresUser } from './postgres.js';

export interface TestCertificates {
  dir: string;
  /** The root CA that signed the server and client certificates. */
  ca: string;
  /** A CA that signed nothing here. */
  otherCa: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** The role the client certificate names (its CN). */
  clientUser: string;
}

export async function makeCertificates(clientUser: string): Promise<TestCertificates> {
  const dir = makeTempDir('tls');
  const p = (name: string) => join(dir, name);
  const ssl = (args: string[]) => execa('openssl', args, { cwd: dir });
  const makeCa = (name: string, cn: string) =>
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.crt`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await makeCa('ca', 'pitrd test root CA');
  await makeCa('other-ca', 'pitrd test unrelated CA');
  const issue = async (name: string, cn: string, ext: string) => {
    writeFileSync(p(`${name}.ext`), ext);
    await ssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
    await ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
  };
  await issue('server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await issue('client', clientUser, 'extendedKeyUsage=clientAuth\n');
  chmodSync(p('server.key'), 0o600);
  chmodSync(p('client.key'), 0o600);
  const u = postgresUser();
  if (u) for (const f of ['server.key', 'server.crt', 'ca.crt']) chownSync(p(f), u.uid, u.gid);
  return { dir, ca: p('ca.crt'), otherCa: p('other-ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key'), clientCert: p('client.crt'), clientKey: p('client.key'), clientUser };
}
