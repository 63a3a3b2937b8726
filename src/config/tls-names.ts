// TLS protocol and cipher names as users paste them (often Java/IANA spellings from MoP or Pulsar
// configs), turned into what Node's OpenSSL understands.
import { createSecureContext, getCiphers, type SecureVersion } from 'node:tls';

const VERSIONS: readonly SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** `tlsv1.2`, `TLSv1.2`, `TLS1.2`, `1.2` → `TLSv1.2`; undefined when it is no TLS version. */
export function normalizeTlsVersion(name: string): SecureVersion | undefined {
  const m = /^(?:tls\s*v?)?(1(?:\.[0-3])?)$/i.exec(name.trim());
  if (!m) return undefined;
  const v = m[1] === '1' || m[1] === '1.0' ? 'TLSv1' : `TLSv${m[1]}`;
  return VERSIONS.includes(v as SecureVersion) ? (v as SecureVersion) : undefined;
}

/**
 * The version range for a protocol list. OpenSSL in Node takes a min and a max, not a set, so the
 * list must be contiguous (TLSv1.1,TLSv1.3 without 1.2 cannot be expressed).
 */
export function tlsVersionRange(protocols: readonly string[]): { minVersion?: SecureVersion; maxVersion?: SecureVersion } {
  if (protocols.length === 0) return {};
  const idx = protocols.map((p) => {
    const v = normalizeTlsVersion(p);
    if (!v) throw new Error(`"${p}" is not a TLS version (use ${VERSIONS.join(', ')})`);
    return VERSIONS.indexOf(v);
  });
  const lo = Math.min(...idx);
  const hi = Math.max(...idx);
  for (let i = lo; i <= hi; i++) {
    if (!idx.includes(i)) throw new Error(`TLS versions must be a contiguous range; add ${VERSIONS[i]} or drop the versions around it`);
  }
  return { minVersion: VERSIONS[lo], maxVersion: VERSIONS[hi] };
}

/**
 * One cipher name → its OpenSSL name. OpenSSL names pass through; IANA names
 * (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) are translated by the common pattern. TLS 1.3 suites
 * keep their IANA names in OpenSSL too.
 */
export function toOpenSslCipher(name: string): string {
  const n = name.trim();
  const known = new Set(getCiphers().map((c) => c.toUpperCase()));
  if (known.has(n.toUpperCase())) return n.toUpperCase();
  const m = /^(?:TLS|SSL)_(.+)_WITH_(.+)$/i.exec(n);
  if (m) {
    const kx = m[1].toUpperCase();
    const enc = m[2].toUpperCase();
    const parts: string[] = [];
    if (kx !== 'RSA') parts.push(kx.replace(/_/g, '-'));
    const aes = /^AES_(128|256)_(GCM|CCM|CBC)_(SHA\d*)$/.exec(enc);
    if (aes) {
      if (aes[2] === 'CBC') parts.push(`AES${aes[1]}`, aes[3]);
      else parts.push(`AES${aes[1]}-${aes[2]}`, aes[3]);
    } else if (/^CHACHA20_POLY1305_SHA256$/.test(enc)) {
      parts.push('CHACHA20-POLY1305');
    } else {
      parts.push(enc.replace(/_/g, '-'));
    }
    const candidate = parts.join('-');
    if (known.has(candidate)) return candidate;
  }
  // OpenSSL cipher-string keywords (HIGH, PSK, !aNULL, ...) are fine if OpenSSL matches something.
  if (/^[A-Za-z0-9!+@=:-]+$/.test(n)) {
    try {
      createSecureContext({ ciphers: n });
      return n;
    } catch {
      // fall through to the error below
    }
  }
  throw new Error(`unknown cipher "${n}" (use OpenSSL names such as ECDHE-RSA-AES128-GCM-SHA256 or TLS_AES_128_GCM_SHA256; \`node -p "require('tls').getCiphers()"\` lists them)`);
}
