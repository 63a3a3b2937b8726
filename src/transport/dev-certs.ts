// Development certificates: a local CA, a server certificate for this machine's names and a
// client certificate, so TLS, wss:// and mutual TLS work on first start. Keys come from Node's
// crypto (native, fast); node-forge builds and signs the X.509 certificates.
import { generateKeyPair, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';

export interface DevCertificateFiles {
  caFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

export interface DevCertificateOptions {
  /** Names and addresses in the server certificate; default localhost, 127.0.0.1, ::1. */
  hosts?: string[];
  /** Validity of the server and client certificates in days (the CA gets ten times as long). */
  days?: number;
}

export const DEFAULT_DEV_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '::1'];

const fileNames = (dir: string): DevCertificateFiles => ({
  caFile: join(dir, 'ca.crt'),
  caKeyFile: join(dir, 'ca.key'),
  certFile: join(dir, 'server.crt'),
  keyFile: join(dir, 'server.key'),
  clientCertFile: join(dir, 'client.crt'),
  clientKeyFile: join(dir, 'client.key'),
});

const generateRsa = promisify(generateKeyPair);

async function rsaKeys(): Promise<{ privatePem: string; publicKey: forge.pki.PublicKey; privateKey: forge.pki.PrivateKey }> {
  const { privateKey, publicKey } = await generateRsa('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { privatePem: privateKey, publicKey: forge.pki.publicKeyFromPem(publicKey), privateKey: forge.pki.privateKeyFromPem(privateKey) };
}

/** A positive serial number, unique enough that browsers never see two certificates share one. */
function serial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  return b.toString('hex');
}

function baseCertificate(publicKey: forge.pki.PublicKey, days: number, subject: forge.pki.CertificateField[]): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  // Backdated an hour so a client whose clock lags a little still accepts it.
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + days * 86400_000);
  cert.setSubject(subject);
  return cert;
}

const altName = (host: string): Record<string, unknown> => (isIP(host) ? { type: 7, ip: host } : { type: 2, value: host });

/** Writes through a temporary file and a rename, so a crash never leaves half a key behind. */
function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, path);
}

/** Makes a new CA, server and client certificate in `dir`, replacing any there. */
export async function generateDevCertificates(dir: string, opts: DevCertificateOptions = {}): Promise<DevCertificateFiles> {
  const hosts = opts.hosts && opts.hosts.length > 0 ? opts.hosts : [...DEFAULT_DEV_HOSTS];
  const days = opts.days ?? 365;
  const files = fileNames(dir);
  mkdirSync(dir, { recursive: true });

  const [caKeys, serverKeys, clientKeys] = await Promise.all([rsaKeys(), rsaKeys(), rsaKeys()]);
  const caSubject = [
    { name: 'commonName', value: `Starling development CA (${hostname()})` },
    { name: 'organizationName', value: 'Starling development only' },
  ];
  const ca = baseCertificate(caKeys.publicKey, days * 10, caSubject);
  ca.setIssuer(caSubject);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(caKeys.privateKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());

  const issue = (keys: typeof caKeys, cn: string, extensions: unknown[]): forge.pki.Certificate => {
    const cert = baseCertificate(keys.publicKey, days, [
      { name: 'commonName', value: cn },
      { name: 'organizationName', value: 'Starling development only' },
    ]);
    cert.setIssuer(caSubject);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
      ...extensions,
    ]);
    cert.sign(caKeys.privateKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
    return cert;
  };
  const server = issue(serverKeys, hosts[0], [
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: hosts.map(altName) },
  ]);
  const client = issue(clientKeys, 'starling-dev-client', [{ name: 'extKeyUsage', clientAuth: true }]);

  const pem = (c: forge.pki.Certificate): string => forge.pki.certificateToPem(c);
  writeAtomic(files.caKeyFile, caKeys.privatePem, 0o600);
  writeAtomic(files.keyFile, serverKeys.privatePem, 0o600);
  writeAtomic(files.clientKeyFile, clientKeys.privatePem, 0o600);
  writeAtomic(files.caFile, pem(ca), 0o644);
  writeAtomic(files.certFile, pem(server), 0o644);
  writeAtomic(files.clientCertFile, pem(client), 0o644);
  return files;
}

/** True when the certificate file is readable and valid for at least another day. */
function usable(certFile: string): boolean {
  try {
    const cert = new X509Certificate(readFileSync(certFile));
    return new Date(cert.validTo).getTime() > Date.now() + 86400_000;
  } catch {
    return false;
  }
}

/**
 * The development certificates in `dir`, made on first use (and again when missing or about to
 * expire). For TLS listeners started without mqttTlsCertificateFilePath.
 */
export async function ensureDevCertificates(dir: string): Promise<DevCertificateFiles & { created: boolean }> {
  const files = fileNames(dir);
  const complete = Object.values(files).every((f) => existsSync(f));
  if (complete && usable(files.certFile) && usable(files.caFile)) return { ...files, created: false };
  return { ...(await generateDevCertificates(dir)), created: true };
}
