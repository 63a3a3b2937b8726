// TLS server options from the transport's TLS settings: certificate material read from the
// configured files, versions, ciphers and the client-certificate policy (mutual TLS).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { PskTable, TlsSettings } from './options.js';

/** The bytes of every file a TLS listener depends on; compared on each refresh check. */
export interface TlsFiles {
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
  pskFile?: Buffer;
}

const read = (path: string): Buffer | undefined => (path ? readFileSync(path) : undefined);

export function readTlsFiles(tls: TlsSettings, psk: boolean): TlsFiles {
  // A PSK listener runs without certificates: with a certificate present, TLS 1.3 clients would
  // be steered to certificate authentication instead of their key.
  if (psk) return { pskFile: read(tls.pskIdentityFile) };
  return {
    cert: read(tls.certificateFile),
    key: read(tls.keyFile),
    ca: read(tls.trustedCaFile),
  };
}

export const sameFiles = (a: TlsFiles, b: TlsFiles): boolean =>
  (['cert', 'key', 'ca', 'pskFile'] as const).every((k) => (a[k] === undefined ? b[k] === undefined : b[k] !== undefined && a[k]!.equals(b[k]!)));

/** The parts of the TLS setup that setSecureContext can replace (certificate, key, CAs, versions, ciphers). */
export function secureContextOptions(tls: TlsSettings, files: TlsFiles, psk: boolean): SecureContextOptions {
  const out: SecureContextOptions = {};
  if (tls.minVersion) out.minVersion = tls.minVersion;
  if (tls.maxVersion) out.maxVersion = tls.maxVersion;
  if (tls.ciphers) out.ciphers = tls.ciphers;
  // Node's default cipher list excludes PSK suites; TLS 1.2 PSK clients (mbedTLS devices) need them.
  else if (psk) out.ciphers = 'PSK';
  if (!psk) {
    out.cert = files.cert;
    out.key = files.key;
    if (files.ca) out.ca = files.ca;
  }
  return out;
}

/** The code of an error about the certificate and key files themselves (for a one-line start-up error). */
export const TLS_FILES_INVALID = 'STARLING_TLS_FILES_INVALID';

const invalid = (message: string): Error => Object.assign(new Error(message), { code: TLS_FILES_INVALID });

/**
 * Throws unless the key belongs to the certificate. OpenSSL, given a mismatched pair, quietly drops
 * the key and every handshake fails later; during a rotation the two files are not replaced at the
 * same instant, so a check may well see one new and one old file. The message names both files and
 * their keys: the operator has to find which of the two is wrong.
 */
export function checkKeyPair(files: TlsFiles, paths: Pick<TlsSettings, 'certificateFile' | 'keyFile'>): void {
  if (!files.cert || !files.key) return;
  const certAt = `${paths.certificateFile} (mqttTlsCertificateFilePath)`;
  const keyAt = `${paths.keyFile} (mqttTlsKeyFilePath)`;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(files.cert);
  } catch (err) {
    throw invalid(`cannot read the TLS certificate ${certAt}: ${(err as Error).message}`);
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(files.key);
  } catch (err) {
    throw invalid(`cannot read the TLS private key ${keyAt}: ${(err as Error).message}`);
  }
  if (!cert.checkPrivateKey(key)) throw invalid(`the key in ${keyAt} is not the private key of the certificate in ${certAt}`);
}

/** Server options for a certificate listener (mqtt+ssl, ws+ssl). */
export function certificateServerOptions(tls: TlsSettings, files: TlsFiles): TlsOptions {
  if (!files.cert || !files.key) {
    throw new Error('TLS listeners need mqttTlsCertificateFilePath and mqttTlsKeyFilePath (or run `starling certs` for a development pair)');
  }
  checkKeyPair(files, tls);
  const request = tls.requestClientCert;
  return {
    ...secureContextOptions(tls, files, false),
    requestCert: request,
    // With mqttTlsAllowInsecureConnection, unverifiable certificates get in but peer.authorized stays false.
    rejectUnauthorized: request && tls.requireTrustedClientCert && !tls.allowUntrustedClientCert,
  };
}

/** Identity → key, from the configured identities and the identity file. */
export const pskTable = (tls: TlsSettings, files: TlsFiles): PskTable => tls.pskKeys(files.pskFile);
