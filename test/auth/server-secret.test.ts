// The server secret: made once in the data directory with mode 0600 and read back; per process
// without a data directory; a file that holds too little is refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVER_SECRET_FILE, serverSecret } from '../../src/auth/server-secret.js';
import { decoyCredentials } from '../../src/hooks/scram.js';
import { captureLog, silentLog, tempDir } from './helpers.js';

describe('auth: server secret', () => {
  it('is created in the data directory with mode 0600 on first start and read back after', (t) => {
    const dataDir = join(tempDir(t), 'data');
    const first = serverSecret({ dataDir, log: silentLog });
    assert.equal(first.length, 32);
    assert.equal(statSync(join(dataDir, SERVER_SECRET_FILE)).mode & 0o777, 0o600);
    assert.deepEqual(serverSecret({ dataDir, log: silentLog }), first);
  });

  it('without a data directory is made per process, and the log says so', () => {
    const { log, lines } = captureLog();
    const a = serverSecret({ dataDir: undefined, log });
    assert.notDeepEqual(serverSecret({ dataDir: undefined, log: silentLog }), a);
    assert.ok(lines().some((l) => String(l.msg).includes('generated for this process')));
  });

  it('refuses a file that holds too few bytes', (t) => {
    const dataDir = tempDir(t);
    writeFileSync(join(dataDir, SERVER_SECRET_FILE), 'c2hvcnQ=\n', { mode: 0o600 });
    assert.throws(() => serverSecret({ dataDir, log: silentLog }), /at least 32/);
  });

  it('keys the decoy SCRAM credentials: stable per name and secret, different across secrets', () => {
    const s1 = Buffer.alloc(32, 1);
    const s2 = Buffer.alloc(32, 2);
    assert.deepEqual(decoyCredentials(s1, 'ghost'), decoyCredentials(s1, 'ghost'));
    assert.notDeepEqual(decoyCredentials(s1, 'ghost').salt, decoyCredentials(s2, 'ghost').salt);
    assert.notDeepEqual(decoyCredentials(s1, 'ghost').salt, decoyCredentials(s1, 'ghost2').salt);
    assert.equal(decoyCredentials(s1, 'ghost').salt.length, 16);
    assert.equal(decoyCredentials(s1, 'ghost').iterations, 4096);
  });
});
