import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseBool, parseDuration, parseEnum, parseInt10, parseList, parseSize, unquote } from '../../src/config/values.js';
import { normalizeTlsVersion, tlsVersionRange, toOpenSslCipher } from '../../src/config/tls-names.js';
import { parsePskFile, parsePskIdentities } from '../../src/config/psk.js';

describe('value parsers', () => {
  it('integers, with underscores and ranges', () => {
    assert.equal(parseInt10('1_000_000'), 1_000_000);
    assert.equal(parseInt10('-3'), -3);
    assert.throws(() => parseInt10('1.5'), /not a whole number/);
    assert.throws(() => parseInt10('0', 1), /below the minimum 1/);
    assert.throws(() => parseInt10('70000', 0, 65535), /above the maximum 65535/);
    assert.throws(() => parseInt10('99999999999999999999'), /too large/);
  });

  it('booleans in their usual spellings', () => {
    for (const t of ['true', 'TRUE', 'yes', 'on', '1']) assert.equal(parseBool(t), true);
    for (const f of ['false', 'No', 'off', '0']) assert.equal(parseBool(f), false);
    assert.throws(() => parseBool('maybe'), /not true or false/);
  });

  it('durations in seconds with units', () => {
    assert.equal(parseDuration('30'), 30);
    assert.equal(parseDuration('30s'), 30);
    assert.equal(parseDuration('5m'), 300);
    assert.equal(parseDuration('1h'), 3600);
    assert.equal(parseDuration('2d'), 172800);
    assert.throws(() => parseDuration('500ms'), /not a duration/);
    assert.throws(() => parseDuration('-1'), /not a duration/);
  });

  it('sizes in bytes with binary units', () => {
    assert.equal(parseSize('1048576'), 1048576);
    assert.equal(parseSize('1MiB'), 1048576);
    assert.equal(parseSize('1 MB'), 1048576);
    assert.equal(parseSize('64KiB'), 65536);
    assert.equal(parseSize('64k'), 65536);
    assert.equal(parseSize('1GB'), 1024 ** 3);
    assert.throws(() => parseSize('1TB'), /not a size/);
    assert.throws(() => parseSize('2MiB', 0, 1024), /above the maximum/);
  });

  it('lists, enums and quotes', () => {
    assert.deepEqual(parseList(' a, b ,,c '), ['a', 'b', 'c']);
    assert.equal(parseEnum('MEMORY', ['sqlite', 'memory']), 'memory');
    assert.throws(() => parseEnum('disk', ['sqlite', 'memory']), /"disk" is not one of sqlite, memory/);
    assert.equal(unquote('"/a b"'), '/a b');
    assert.equal(unquote("'x'"), 'x');
    assert.equal(unquote('"x'), '"x');
  });
});

describe('TLS names', () => {
  it('normalises version spellings', () => {
    assert.equal(normalizeTlsVersion('TLSv1.2'), 'TLSv1.2');
    assert.equal(normalizeTlsVersion('tlsv1.3'), 'TLSv1.3');
    assert.equal(normalizeTlsVersion('TLS1.1'), 'TLSv1.1');
    assert.equal(normalizeTlsVersion('1.0'), 'TLSv1');
    assert.equal(normalizeTlsVersion('TlSv1'), 'TLSv1');
    assert.equal(normalizeTlsVersion('SSLv3'), undefined);
  });

  it('turns a protocol list into a contiguous range', () => {
    assert.deepEqual(tlsVersionRange(['TLSv1.3', 'TLSv1.2']), { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
    assert.deepEqual(tlsVersionRange([]), {});
    assert.throws(() => tlsVersionRange(['TLSv1.1', 'TLSv1.3']), /contiguous range; add TLSv1\.2/);
  });

  it('translates IANA cipher names and keeps OpenSSL ones', () => {
    assert.equal(toOpenSslCipher('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'), 'ECDHE-RSA-AES128-GCM-SHA256');
    assert.equal(toOpenSslCipher('TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'), 'ECDHE-ECDSA-AES256-GCM-SHA384');
    assert.equal(toOpenSslCipher('TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'), 'ECDHE-RSA-CHACHA20-POLY1305');
    assert.equal(toOpenSslCipher('TLS_RSA_WITH_AES_128_GCM_SHA256'), 'AES128-GCM-SHA256');
    assert.equal(toOpenSslCipher('TLS_PSK_WITH_AES_128_GCM_SHA256'), 'PSK-AES128-GCM-SHA256');
    assert.equal(toOpenSslCipher('TLS_AES_128_GCM_SHA256'), 'TLS_AES_128_GCM_SHA256');
    assert.equal(toOpenSslCipher('ecdhe-rsa-aes128-gcm-sha256'), 'ECDHE-RSA-AES128-GCM-SHA256');
    assert.equal(toOpenSslCipher('HIGH'), 'HIGH');
    assert.throws(() => toOpenSslCipher('TLS_FOO_WITH_BAR'), /unknown cipher "TLS_FOO_WITH_BAR"/);
  });
});

describe('PSK identities', () => {
  it('parses id:secret;id2:secret2, secrets may contain colons', () => {
    const t = parsePskIdentities(' dev1:secret1 ; dev2:a:b ;');
    assert.deepEqual([...t.keys()], ['dev1', 'dev2']);
    assert.deepEqual(t.get('dev2'), Buffer.from('a:b'));
    assert.throws(() => parsePskIdentities('dev1'), /"dev1" is not identity:secret/);
    assert.throws(() => parsePskIdentities(':x'), /not identity:secret/);
  });

  it('parses a file with comments and names the bad line', () => {
    const t = parsePskFile('# devices\n\ndev1:s1\r\ndev2:s2\n', 'psk.txt');
    assert.equal(t.size, 2);
    assert.throws(() => parsePskFile('dev1:s1\nbroken\n', 'psk.txt'), /^Error: psk\.txt:2: "broken" is not identity:secret$/);
  });
});
