// `starling config`: secrets masked (marked in the schema table, not listed in the CLI), and keys
// that contradict each other reported as errors (exit 2, start refuses too) or warnings (exit 1).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { processIO } from '../../src/cli/io.js';
import { configKeys, schema } from '../../src/config/schema.js';

/** Runs a command that may end without calling exit (a clean `config`: exit code 0). */
async function run(args: string[]): Promise<{ out: string; err: string; code: number }> {
  const r = { out: '', err: '', code: 0 };
  let exited = false;
  await main(['node', 'starling', ...args], {
    ...processIO(),
    // Not the test runner's process-wide rejection and exception handlers.
    faults: undefined,
    out: (t) => void (r.out += t),
    err: (t) => void (r.err += t),
    exit: (c) => {
      if (!exited) r.code = c;
      exited = true;
    },
  });
  return r;
}

describe('starling config: secrets and contradictions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = (name: string, lines: string[]): string => {
    const f = join(dir, name);
    writeFileSync(f, lines.join('\n') + '\n');
    return f;
  };
  const passwd = join(dir, 'passwd');
  writeFileSync(passwd, '');

  it('every password, token and key setting is marked secret in the schema', () => {
    const looksSecret = configKeys.filter((k) => schema[k].kind === 'string' && /(password|token|secret|pskidentity)$/i.test(k));
    assert.ok(looksSecret.length >= 5, looksSecret.join(','));
    for (const k of looksSecret) assert.equal((schema[k] as { secret?: boolean }).secret, true, `${k} is not marked secret`);
  });

  it('masks secrets unless --show-secrets is given', async () => {
    const f = conf('secrets.conf', [
      'mqttListeners=mqtt://127.0.0.1:0,ws://127.0.0.1:0',
      'httpAdminToken=tok-3f9a7c',
      'mqttAuthenticationEnabled=true',
      'mqttAuthenticationMethods=token',
      'mqttTokenSecret=hmac-5b2e',
      'clusterNatsPassword=nats-pw-77',
      'clusterNatsToken=nats-tok-88',
    ]);
    const r = await run(['config', '-c', f]);
    assert.equal(r.code, 0, r.err);
    for (const secret of ['tok-3f9a7c', 'hmac-5b2e', 'nats-pw-77', 'nats-tok-88']) assert.ok(!r.out.includes(secret), `${secret} printed in clear`);
    assert.match(r.out, /^httpAdminToken=\*{6} {4}# .*secrets\.conf:2$/m);
    assert.match(r.out, /^mqttTlsPskIdentity=$/m, 'an empty secret is shown as empty');
    const shown = await run(['config', '-c', f, '--show-secrets']);
    assert.match(shown.out, /^httpAdminToken=tok-3f9a7c /m);
    const psk = await run(['config', '--mqtt-listeners', 'mqtt+ssl+psk://127.0.0.1:0', '--mqtt-tls-psk-identity', 'dev1:psk-secret-1']);
    assert.ok(!psk.out.includes('psk-secret-1'));
    assert.match(psk.out, /^mqttTlsPskIdentity=\*{6}/m);
  });

  it('refuses authentication without any credentials source (exit 2), as start does', async () => {
    for (const [methods, why] of [
      ['basic', /basic needs mqttPasswordFile/],
      ['token', /token needs mqttTokenSecret, mqttTokenPublicKeyFile or mqttTokenJwksFile/],
      ['basic,token', /basic needs mqttPasswordFile.*token needs/],
      ['mtls', /mtls needs an mqtt\+ssl:\/\/ or ws\+ssl:\/\/ listener/],
    ] as const) {
      const f = conf(`auth-${methods}.conf`, ['mqttListeners=mqtt://127.0.0.1:0', 'mqttAuthenticationEnabled=true', `mqttAuthenticationMethods=${methods}`]);
      for (const cmd of ['config', 'start']) {
        const r = await run([cmd, '-c', f]);
        assert.equal(r.code, 2, `${cmd} ${methods}: ${r.out}${r.err}`);
        assert.match(r.err, /authentication is on but no client could ever authenticate/);
        assert.match(r.err, why);
      }
    }
  });

  it('warns (exit 1) about settings the others make useless or fail closed', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['mqttAuthorizationEnabled=true'], /no mqttAclFile, so every publish and subscription is refused/],
      [[`mqttAclFile=${passwd}`], /mqttAclFile: is ignored while mqttAuthorizationEnabled is false/],
      [[`mqttPasswordFile=${passwd}`], /mqttPasswordFile: is ignored/],
      [['mqttAuthenticationEnabled=true', 'mqttAuthenticationMethods=basic,token', `mqttPasswordFile=${passwd}`], /token needs .*; until then every client trying token is refused/],
      [['mqttTokenSecret=s'], /mqttTokenSecret: is ignored unless mqttAuthenticationEnabled/],
      [['mqttListeners=mqtt://127.0.0.1:0', 'httpAdminToken=t'], /admin API is served on ws:\/\/ and ws\+ssl:\/\/ listeners, and mqttListeners has none/],
      [['mqttListeners=mqtt://127.0.0.1:0', `mqttTlsTrustCertsFilePath=${passwd}`], /mqttTlsTrustCertsFilePath: is ignored without an mqtt\+ssl/],
      [['mqttListeners=mqtt://127.0.0.1:0', 'webSocketTrustForwardedFor=true'], /webSocketTrustForwardedFor: has no effect without a ws:\/\//],
    ];
    for (const [lines, why] of cases) {
      const f = conf('warn.conf', lines);
      const r = await run(['config', '-c', f]);
      assert.equal(r.code, 1, `${lines.join(' ')}: ${r.err}`);
      assert.match(r.out, new RegExp(`^# warning: .*${why.source}`, 'm'));
      assert.match(r.err, why);
    }
    const errs = await run(['config', '--http-admin-users', 'alice']);
    assert.equal(errs.code, 2);
    assert.match(errs.err, /httpAdminUsers: needs mqttPasswordFile/);
  });
});
