import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, loadConfigDetailed } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';
import { defaultConfig } from '../../src/config/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'starling-config-'));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const problemsOf = (fn: () => unknown): readonly string[] => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.message, err.problems.join('\n'));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
};

describe('loadConfig', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));
  const crt = file('server.crt', 'not really a certificate');
  const key = file('server.key', 'not really a key');

  it('gives the defaults with no file, environment or flags', () => {
    const c = loadConfig({ env: {} });
    assert.deepEqual(c, defaultConfig());
    assert.deepEqual(c.mqttListeners, ['mqtt://127.0.0.1:1883', 'mqtt+ssl://127.0.0.1:8883', 'ws://127.0.0.1:8083', 'ws+ssl://127.0.0.1:8084']);
    assert.equal(c.webSocketPath, '/mqtt');
    assert.equal(c.mqttMessageMaxLength, 1024 * 1024);
    assert.equal(c.persistence, 'sqlite');
    assert.equal(c.dataDir, './data');
  });

  it('reads the quickstart lines as pasted, trailing spaces included', () => {
    const f = file(
      'quickstart.conf',
      [
        'mqttListeners=mqtt://127.0.0.1:1883,mqtt+ssl://127.0.0.1:8883,ws://127.0.0.1:8083,ws+ssl://127.0.0.1:8084',
        '',
        `mqttTlsCertificateFilePath=${crt}  `,
        `mqttTlsKeyFilePath=${key}`,
      ].join('\n'),
    );
    const { config, sources } = loadConfigDetailed({ file: f, env: {} });
    assert.equal(config.mqttTlsCertificateFilePath, crt);
    assert.equal(config.mqttListeners.length, 4);
    assert.equal(sources.mqttTlsCertificateFilePath, `${f}:3`);
    assert.equal(sources.logLevel, 'default');
  });

  it('names file, line and key when the quickstart placeholder paths are pasted unchanged', () => {
    const f = file('placeholder.conf', 'mqttTlsCertificateFilePath=/xxx/server.crt  \nmqttTlsKeyFilePath=/xxx/server.key\n');
    assert.deepEqual(problemsOf(() => loadConfig({ file: f, env: {} })), [
      `${f}:1: mqttTlsCertificateFilePath: /xxx/server.crt: no such file`,
      `${f}:2: mqttTlsKeyFilePath: /xxx/server.key: no such file`,
    ]);
  });

  it('tolerates comments, blank lines, spaces, CRLF, a BOM, quotes and = inside values', () => {
    const f = file(
      'tolerant.conf',
      '\uFEFF# Starling\r\n\r\n   logLevel   =   debug   \r\n  # indented comment\r\nmqttTlsPskIdentity = dev1:a=b;dev2:c\r\nwebSocketPath="/ws"\r\nmaxQueuedBytes=8MiB\r\nconnectTimeoutSec=1m\r\n',
    );
    const c = loadConfig({ file: f, env: {} });
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.mqttTlsPskIdentity, 'dev1:a=b;dev2:c');
    assert.equal(c.webSocketPath, '/ws');
    assert.equal(c.maxQueuedBytes, 8 * 1024 * 1024);
    assert.equal(c.connectTimeoutSec, 60);
  });

  it('an empty value means the default', () => {
    const f = file('empty.conf', 'mqttTlsProtocols=\nmaxInflightMessages=\n');
    const c = loadConfig({ file: f, env: {} });
    assert.deepEqual(c.mqttTlsProtocols, ['TLSv1.2', 'TLSv1.3']);
    assert.equal(c.maxInflightMessages, 100);
  });

  it('applies defaults < file < environment < flags, and records each source', () => {
    const f = file('precedence.conf', 'logLevel=debug\nmaxInflightMessages=10\npersistence=memory\n');
    const env = { STARLING_LOG_LEVEL: 'warn', STARLING_MAX_INFLIGHT_MESSAGES: '20', UNRELATED: 'x' };
    const { config, sources } = loadConfigDetailed({ file: f, env, flags: { logLevel: 'error' } });
    assert.equal(config.logLevel, 'error');
    assert.equal(config.maxInflightMessages, 20);
    assert.equal(config.persistence, 'memory');
    assert.equal(config.sysIntervalSec, 10);
    assert.equal(sources.logLevel, '--log-level');
    assert.equal(sources.maxInflightMessages, 'STARLING_MAX_INFLIGHT_MESSAGES');
    assert.equal(sources.persistence, `${f}:3`);
    assert.equal(sources.sysIntervalSec, 'default');
  });

  it('reads process.env when no environment is given', () => {
    process.env.STARLING_MAX_CONNECTIONS = '7';
    try {
      assert.equal(loadConfig().maxConnections, 7);
    } finally {
      delete process.env.STARLING_MAX_CONNECTIONS;
    }
  });

  it('takes flags by key or by flag spelling', () => {
    assert.equal(loadConfig({ env: {}, flags: { 'max-connections': '5' } }).maxConnections, 5);
    assert.equal(loadConfig({ env: {}, flags: { '--max-connections': '6' } }).maxConnections, 6);
    assert.equal(loadConfig({ env: {}, flags: { maxConnections: '7' } }).maxConnections, 7);
  });

  it('stops on a bad value with file, line, key and a hint', () => {
    const f = file(
      'starling.conf',
      ['# 1', '# 2', '# 3', '# 4', '# 5', '# 6', 'mqttListeners=tcp://127.0.0.1:1883'].join('\n'),
    );
    assert.deepEqual(problemsOf(() => loadConfig({ file: f, env: {} })), [
      `${f}:7: mqttListeners: unknown scheme "tcp" (use mqtt://, mqtt+ssl://, ws://, ws+ssl://; for plain MQTT write mqtt://)`,
    ]);
  });

  it('suggests the closest key for a typo, also for case slips', () => {
    const f = file('typo.conf', 'mqttListener=mqtt://127.0.0.1:1883\nMQTTLISTENERS=x\nfrobnicate=1\n');
    assert.deepEqual(problemsOf(() => loadConfig({ file: f, env: {} })), [
      `${f}:1: unknown setting "mqttListener" (did you mean mqttListeners?)`,
      `${f}:2: unknown setting "MQTTLISTENERS" (did you mean mqttListeners?)`,
      `${f}:3: unknown setting "frobnicate"`,
    ]);
  });

  it('reports every problem at once, lines without = included', () => {
    const f = file('many.conf', 'just some words\nmaxInflightMessages=0\nlogLevel=loud\nmqttTlsProtocols=TLSv1.1,TLSv1.3\n');
    assert.deepEqual(problemsOf(() => loadConfig({ file: f, env: {} })), [
      `${f}:1: expected key=value, got "just some words"`,
      `${f}:2: maxInflightMessages: 0 is below the minimum 1`,
      `${f}:3: logLevel: "loud" is not one of fatal, error, warn, info, debug, trace, silent`,
    ]);
    // The TLS range is a whole-list check, run once the values parse.
    const g = file('range.conf', 'mqttTlsProtocols=TLSv1.1,TLSv1.3\n');
    assert.deepEqual(problemsOf(() => loadConfig({ file: g, env: {} })), [
      `${g}:1: mqttTlsProtocols: TLS versions must be a contiguous range; add TLSv1.2 or drop the versions around it`,
    ]);
  });

  it('maxOutgoingBytes is at least 64 KiB: below a socket\'s 16 KiB mark no drain would ever wake a waiting QoS 1/2 delivery', () => {
    const f = file('outgoing.conf', 'maxOutgoingBytes=16KiB\n');
    assert.deepEqual(problemsOf(() => loadConfig({ file: f, env: {} })), [`${f}:1: maxOutgoingBytes: 16KiB is below the minimum 65536`]);
    assert.equal(loadConfig({ env: {}, flags: { maxOutgoingBytes: '64KiB' } }).maxOutgoingBytes, 65_536);
  });

  it('names the environment variable or flag of a bad value', () => {
    assert.deepEqual(problemsOf(() => loadConfig({ env: { STARLING_MQTT_MESSAGE_MAX_LENGTH: 'huge' } })), [
      'STARLING_MQTT_MESSAGE_MAX_LENGTH: mqttMessageMaxLength: "huge" is not a size in bytes (e.g. 1048576, 64KiB, 1MiB)',
    ]);
    assert.deepEqual(problemsOf(() => loadConfig({ env: {}, flags: { persistence: 'disk' } })), ['--persistence: persistence: "disk" is not one of sqlite, memory, nats']);
    assert.deepEqual(problemsOf(() => loadConfig({ env: {}, flags: { mqttListener: 'x' } })), ['--mqtt-listener: unknown option (did you mean --mqtt-listeners?)']);
  });

  it('says so when the file cannot be read', () => {
    assert.deepEqual(problemsOf(() => loadConfig({ file: join(dir, 'missing.conf'), env: {} })), [`cannot read config file ${join(dir, 'missing.conf')}: no such file`]);
  });

  it('checks keys against each other', () => {
    const only = (flags: Record<string, string>) => problemsOf(() => loadConfig({ env: {}, flags }));
    assert.deepEqual(only({ mqttTlsCertificateFilePath: crt }), ['--mqtt-tls-certificate-file-path: mqttTlsCertificateFilePath: is set but mqttTlsKeyFilePath is not; give both']);
    assert.deepEqual(only({ mqttListeners: 'mqtt://127.0.0.1:1883,ws://127.0.0.1:1883' }), [
      '--mqtt-listeners: mqttListeners: ws://127.0.0.1:1883 and mqtt://127.0.0.1:1883 both use 127.0.0.1:1883',
    ]);
    assert.deepEqual(only({ mqttListeners: 'mqtt+ssl+psk://127.0.0.1:8885' }), [
      '--mqtt-listeners: mqttListeners: an mqtt+ssl+psk:// listener needs mqttTlsPskIdentity or mqttTlsPskIdentityFile',
    ]);
    assert.deepEqual(only({ mqttTlsCertificateFilePath: crt, mqttTlsKeyFilePath: key, mqttTlsRequireTrustedClientCertOnConnect: 'true' }), [
      '--mqtt-tls-require-trusted-client-cert-on-connect: mqttTlsRequireTrustedClientCertOnConnect: needs mqttTlsTrustCertsFilePath (the CA that signs client certificates)',
    ]);
    const psk = file('psk.txt', 'dev1:s1\nbroken\n');
    assert.deepEqual(only({ mqttListeners: 'mqtt+ssl+psk://127.0.0.1:8885', mqttTlsPskIdentityFile: psk }), [
      `--mqtt-tls-psk-identity-file: mqttTlsPskIdentityFile: ${psk}:2: "broken" is not identity:secret`,
    ]);
    // Port 0 may repeat: the system picks different ports.
    assert.equal(loadConfig({ env: {}, flags: { mqttListeners: 'mqtt://127.0.0.1:0,ws://127.0.0.1:0' } }).mqttListeners.length, 2);
  });

  it('warns, without stopping, about near-miss variables, repeated keys and odd combinations', () => {
    const f = file('warn.conf', 'logLevel=info\nlogLevel=debug\n');
    const { config, warnings } = loadConfigDetailed({
      file: f,
      env: { STARLING_MQTT_LISTENER: 'x', STARLING_DIST: '.build/x', STARLING_CONFIG: 'y' },
      flags: { webSocketMaxFrameSize: '1KiB', mqttTlsPskEnabled: 'true' },
    });
    assert.equal(config.logLevel, 'debug');
    assert.deepEqual(warnings, [
      `${f}:2: logLevel is also set on line 1; the later line wins`,
      'STARLING_MQTT_LISTENER is not a Starling setting and is ignored (did you mean STARLING_MQTT_LISTENERS?)',
      '--mqtt-tls-psk-enabled: mqttTlsPskEnabled: has no effect without an mqtt+ssl+psk:// listener in mqttListeners',
      '--web-socket-max-frame-size: webSocketMaxFrameSize: 1024 is below mqttMessageMaxLength 1048576; clients that send a packet per WebSocket message (MQTT.js, browsers) are cut off at the smaller size',
    ]);
  });
});
