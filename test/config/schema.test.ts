import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { configKeys, schema, type Config, type ConfigKey, type KeySpec } from '../../src/config/schema.js';
import { envName, flagName, keyFromFlag } from '../../src/config/names.js';
import { parseValue } from '../../src/config/load.js';
import { renderConfigurationDoc } from '../../src/config/doc.js';
import { addConfigFlags } from '../../src/cli/config-flags.js';
import { repoRoot } from '../helpers/paths.js';

/** Keys users paste from the quickstart and MoP-style configs: these names are fixed. */
const REQUIRED = [
  'mqttListeners', 'mqttTlsCertificateFilePath', 'mqttTlsKeyFilePath', 'mqttTlsTrustCertsFilePath',
  'mqttTlsRequireTrustedClientCertOnConnect', 'mqttTlsAllowInsecureConnection', 'mqttTlsProtocols', 'mqttTlsCiphers',
  'mqttTlsCertRefreshCheckDurationSec', 'mqttTlsPskIdentityHint', 'mqttTlsPskIdentity', 'mqttTlsPskIdentityFile',
  'webSocketPath', 'webSocketMaxFrameSize', 'webSocketAllowedOrigins', 'webSocketTrustForwardedFor', 'httpConsoleEnabled',
  'mqttMessageMaxLength', 'mqttMaxKeepAliveSec', 'connectTimeoutSec', 'maxInflightMessages', 'dataDir', 'persistence',
  'maxQueuedMessages', 'maxQueuedBytes', 'queueOverflowPolicy', 'maxRetainedMessages', 'maxConnections', 'sysIntervalSec',
  'logLevel', 'mqttAuthenticationEnabled', 'mqttAuthenticationMethods', 'mqttPasswordFile', 'mqttAuthorizationEnabled',
  'mqttAclFile', 'clusterNatsUrl', 'workers',
];

const text = (spec: KeySpec): string => (Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default));

describe('config schema', () => {
  it('knows every key users paste', () => {
    for (const k of REQUIRED) assert.ok(k in schema, `missing ${k}`);
  });

  it('every key has a one-line meaning and a default that parses back to itself', () => {
    for (const key of configKeys) {
      const spec: KeySpec = schema[key];
      assert.ok(spec.doc.length > 10 && !spec.doc.includes('\n'), `${key} has a one-line doc`);
      const parsed = parseValue(key, text(spec));
      assert.deepEqual(parsed, spec.default, `${key} default round-trips`);
    }
  });

  it('types the Config from the table', () => {
    // Compile-time checks: these assignments fail to build if the derived types drift.
    const c = {} as Config;
    const n: number = c.mqttMessageMaxLength;
    const b: boolean = c.mqttTlsRequireTrustedClientCertOnConnect;
    const l: string[] = c.mqttListeners;
    const e: 'sqlite' | 'memory' | 'nats' = c.persistence;
    const m: Array<'basic' | 'token' | 'mtls'> = c.mqttAuthenticationMethods;
    const q: 'dropOldest' | 'refuseNewest' | 'backPressure' = c.queueOverflowPolicy;
    assert.equal([n, b, l, e, m, q].length, 6);
  });

  it('derives environment and flag names that commander maps back to the key', () => {
    assert.equal(envName('mqttTlsPskIdentityHint'), 'STARLING_MQTT_TLS_PSK_IDENTITY_HINT');
    assert.equal(flagName('webSocketPath'), '--web-socket-path');
    const cmd = new Command();
    const byAttribute = addConfigFlags(cmd);
    for (const key of configKeys) {
      assert.equal(keyFromFlag(flagName(key)), key);
      assert.equal(byAttribute.get(key), key as ConfigKey, `commander attribute of ${flagName(key)}`);
    }
    assert.equal(new Set(configKeys.map(envName)).size, configKeys.length, 'environment names are unique');
  });

  it('docs/configuration.md is generated from the table and up to date', () => {
    const committed = readFileSync(join(repoRoot, 'docs', 'configuration.md'), 'utf8');
    assert.equal(committed, renderConfigurationDoc(), 'regenerate: node bin/starling.js config --doc > docs/configuration.md');
    for (const key of configKeys) assert.ok(committed.includes(`\`${key}\``), `${key} documented`);
  });
});
