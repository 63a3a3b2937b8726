// TLS-PSK identities: `id:secret;id2:secret2` in mqttTlsPskIdentity, or one `id:secret` per line
// in mqttTlsPskIdentityFile. The secret is used as its UTF-8 bytes (mosquitto's hex --psk of the
// same bytes interoperates: `secret` ↔ 736563726574).

/** Identity → key bytes. */
export type PskTable = Map<string, Buffer>;

/** Parses the `id:secret;id2:secret2` form; throws with a user-facing message. */
export function parsePskIdentities(text: string, into: PskTable = new Map()): PskTable {
  for (const raw of text.split(';')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const colon = entry.indexOf(':');
    if (colon <= 0 || colon === entry.length - 1) {
      throw new Error(`"${entry}" is not identity:secret`);
    }
    const id = entry.slice(0, colon).trim();
    const secret = entry.slice(colon + 1).trim();
    if (id === '' || secret === '') throw new Error(`"${entry}" is not identity:secret`);
    into.set(id, Buffer.from(secret, 'utf8'));
  }
  return into;
}

/** Parses an identity file (comments with #, blank lines); errors name the line. */
export function parsePskFile(text: string, fileName: string, into: PskTable = new Map()): PskTable {
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    try {
      parsePskIdentities(t, into);
    } catch (err) {
      throw new Error(`${fileName}:${i + 1}: ${(err as Error).message}`);
    }
  });
  return into;
}
