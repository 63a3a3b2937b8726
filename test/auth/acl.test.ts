// The ACL file (Mosquitto's format) and the Authorizer: parsing, anonymous/user/pattern sections,
// %u/%c substitution, deny precedence, wildcard coverage for SUBSCRIBE, $SYS, credential grants.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAclFile, READ, WRITE, DENY } from '../../src/auth/acl-file.js';
import { Authorizer, substitutePattern } from '../../src/auth/acl.js';
import { FileFormatError } from '../../src/auth/watched-file.js';
import type { ClientInfo } from '../../src/hooks/hooks.js';
import { client } from './helpers.js';

const OK = 0x00;
const NOT_AUTHORIZED = 0x87;

function authorizer(text: string): Authorizer {
  const a = new Authorizer(true);
  a.setAcl(parseAclFile(text, 'acl.conf'));
  return a;
}

const pub = (a: Authorizer, c: ClientInfo, topic: string): number => a.authorizePublish(c, topic);
const sub = (a: Authorizer, c: ClientInfo, filter: string): number => a.authorizeSubscribe(c, filter);

describe('auth: ACL file parsing', () => {
  it('reads the sections: anonymous before any user, user blocks, patterns anywhere', () => {
    const acl = parseAclFile(
      ['# comment', '', 'topic read public/#', 'user alice', 'topic alice/#', 'pattern write devices/%c/out', 'user bob', '  topic deny bob/secret  ', 'topic write with space/x y'].join('\n'),
      'acl.conf',
    );
    assert.deepEqual(acl.anonymous.map((r) => [r.access, r.filter]), [[READ, 'public/#']]);
    assert.deepEqual(acl.users.get('alice')?.map((r) => [r.access, r.filter]), [[READ | WRITE, 'alice/#']]);
    assert.deepEqual(acl.users.get('bob')?.map((r) => [r.access, r.filter]), [
      [DENY, 'bob/secret'],
      [WRITE, 'with space/x y'],
    ]);
    assert.equal(acl.patterns.length, 1);
    assert.equal(acl.patterns[0].usesClientId, true);
  });

  it('names file:line for an unknown keyword, a bad filter, or a partial placeholder', () => {
    const cases: Array<[string, number, RegExp]> = [
      ['topic a\nfoo bar\n', 2, /unknown keyword/],
      ['\n\ntopic read a/#/b\n', 3, /invalid topic filter/],
      ['pattern read dev/x%u\n', 1, /whole topic level/],
      ['user\n', 1, /needs a name/],
      ['topic read\t\n', 1, /./], // `topic read` alone is the filter "read"; this line is fine…
    ];
    for (const [text, line, re] of cases.slice(0, 4)) {
      assert.throws(
        () => parseAclFile(text, 'acl.conf'),
        (err: unknown) => err instanceof FileFormatError && err.line === line && err.message.startsWith(`acl.conf:${line}:`) && re.test(err.message),
        text,
      );
    }
    // …as in Mosquitto: with only one word after `topic`, that word is the filter, read/write.
    const acl = parseAclFile(cases[4][0], 'acl.conf');
    assert.deepEqual(acl.anonymous.map((r) => [r.access, r.filter]), [[READ | WRITE, 'read']]);
  });
});

describe('auth: ACL decisions', () => {
  const text = [
    'topic read public/#', // anonymous only
    'topic read $SYS/broker/uptime',
    'user alice',
    'topic readwrite alice/#',
    'topic read sensors/+/temp',
    'topic write cmd/+',
    'topic deny alice/private/#',
    'user admin',
    'topic #',
    'topic read $SYS/#',
    'pattern readwrite users/%u/#',
    'pattern write clients/%c/status',
    'pattern deny users/%u/locked',
  ].join('\n');
  const acl = authorizer(text);

  it('anonymous clients get the rules before any `user` line, and patterns without %u', () => {
    const anon = client({ clientId: 'anon1' });
    assert.equal(sub(acl, anon, 'public/#'), OK);
    assert.equal(pub(acl, anon, 'public/x'), NOT_AUTHORIZED, 'read only');
    assert.equal(pub(acl, anon, 'clients/anon1/status'), OK, '%c pattern applies to anonymous clients');
    assert.equal(sub(acl, anon, 'users/+/x'), NOT_AUTHORIZED, '%u patterns do not apply without a user name');
  });

  it('user rules apply only to that user, not to anonymous clients or other users', () => {
    const alice = client({ username: 'alice' });
    const bob = client({ username: 'bob' });
    assert.equal(pub(acl, alice, 'alice/notes'), OK);
    assert.equal(pub(acl, bob, 'alice/notes'), NOT_AUTHORIZED);
    assert.equal(sub(acl, alice, 'public/#'), NOT_AUTHORIZED, 'anonymous rules are not for named users');
  });

  it('%u and %c are substituted per client', () => {
    const carol = client({ username: 'carol', clientId: 'dev-7' });
    assert.equal(pub(acl, carol, 'users/carol/a/b'), OK);
    assert.equal(pub(acl, carol, 'users/dave/a'), NOT_AUTHORIZED);
    assert.equal(sub(acl, carol, 'users/carol/data/#'), OK);
    assert.equal(pub(acl, carol, 'clients/dev-7/status'), OK);
    assert.equal(pub(acl, carol, 'clients/dev-8/status'), NOT_AUTHORIZED);
  });

  it('deny wins over grants from any section', () => {
    const alice = client({ username: 'alice' });
    assert.equal(pub(acl, alice, 'alice/private/diary'), NOT_AUTHORIZED);
    assert.equal(sub(acl, alice, 'alice/private/#'), NOT_AUTHORIZED);
    assert.equal(pub(acl, alice, 'alice/private'), NOT_AUTHORIZED, '`#` in the deny also covers its parent level');
    // A subscription that would include denied topics is refused as a whole…
    assert.equal(sub(acl, alice, 'alice/#'), NOT_AUTHORIZED);
    // …while one beside them is fine.
    assert.equal(sub(acl, alice, 'alice/public/#'), OK);
    // A `pattern deny` overrides the pattern grant of the same client.
    const carol = client({ username: 'carol' });
    assert.equal(pub(acl, carol, 'users/carol/locked'), NOT_AUTHORIZED);
    assert.equal(sub(acl, carol, 'users/carol/+'), NOT_AUTHORIZED, 'overlaps the denied topic');
  });

  it('a subscription needs one read rule covering its whole filter (+ and #)', () => {
    const alice = client({ username: 'alice' });
    assert.equal(sub(acl, alice, 'sensors/kitchen/temp'), OK);
    assert.equal(sub(acl, alice, 'sensors/+/temp'), OK);
    assert.equal(sub(acl, alice, 'sensors/#'), NOT_AUTHORIZED, '# reaches beyond sensors/+/temp');
    assert.equal(sub(acl, alice, 'sensors/+/+'), NOT_AUTHORIZED);
    assert.equal(sub(acl, alice, '+/kitchen/temp'), NOT_AUTHORIZED);
    assert.equal(sub(acl, alice, 'cmd/+'), NOT_AUTHORIZED, 'write-only rules grant no subscription');
    assert.equal(pub(acl, alice, 'cmd/reboot'), OK);
    assert.equal(pub(acl, alice, 'cmd/reboot/now'), NOT_AUTHORIZED);
    assert.equal(pub(acl, alice, 'sensors/kitchen/temp'), NOT_AUTHORIZED, 'read-only rules grant no publish');
  });

  it('$SYS is reachable only through rules that name it [MQTT-4.7.2-1]', () => {
    const admin = client({ username: 'admin' });
    assert.equal(pub(acl, admin, 'anything/at/all'), OK, '`topic #` grants every ordinary topic');
    assert.equal(sub(acl, admin, 'anything/#'), OK);
    // `#` would include users/admin/locked, which a pattern denies: refused as a whole.
    assert.equal(sub(acl, admin, '#'), NOT_AUTHORIZED);
    assert.equal(pub(acl, admin, '$SYS/broker/uptime'), NOT_AUTHORIZED, '`#` does not reach $SYS');
    assert.equal(sub(acl, admin, '$SYS/#'), OK, 'but `topic read $SYS/#` does');
    const alice = client({ username: 'alice' });
    assert.equal(sub(acl, alice, '$SYS/#'), NOT_AUTHORIZED);
    const anon = client();
    assert.equal(sub(acl, anon, '$SYS/broker/uptime'), OK);
    assert.equal(sub(acl, anon, '$SYS/broker/+'), NOT_AUTHORIZED);
  });

  it('a shared subscription is judged by its inner filter [MQTT-4.8.2]', () => {
    const alice = client({ username: 'alice' });
    assert.equal(sub(acl, alice, '$share/g1/sensors/+/temp'), OK);
    assert.equal(sub(acl, alice, '$share/g1/other/#'), NOT_AUTHORIZED);
  });

  it('a user name or client id with / + # never gains access through a pattern', () => {
    // User "x/y" would otherwise reach into user "x"'s tree users/x/#.
    const sneaky = client({ username: 'x/y' });
    assert.equal(pub(acl, sneaky, 'users/x/y/data'), NOT_AUTHORIZED);
    const wild = client({ username: '+', clientId: '#' });
    assert.equal(pub(acl, wild, 'users/bob/data'), NOT_AUTHORIZED);
    assert.equal(pub(acl, wild, 'clients/x/status'), NOT_AUTHORIZED);
    // A deny pattern is widened instead of dropped, so it still denies.
    const deny = parseAclFile('pattern deny users/%u/locked\n', 'acl.conf').patterns[0];
    assert.equal(substitutePattern(deny, 'a/b', 'c'), 'users/#');
    assert.equal(substitutePattern(deny, undefined, 'c'), undefined);
  });

  it('a user name or client id starting with $ never gains access through a pattern (client id $SYS and %c/inbox/#)', () => {
    const inbox = parseAclFile('pattern readwrite %c/inbox/#\n', 'acl.conf').patterns[0];
    assert.equal(substitutePattern(inbox, undefined, '$SYS'), undefined);
    assert.equal(substitutePattern(inbox, undefined, 'dev$1'), 'dev$1/inbox/#', 'a $ inside the value is an ordinary character');
    const home = parseAclFile('pattern readwrite %u/home/#\n', 'acl.conf').patterns[0];
    assert.equal(substitutePattern(home, '$share', 'c'), undefined);
  });

  it('with no ACL file loaded, authorization refuses everything (fails closed)', () => {
    const a = new Authorizer(true);
    assert.equal(pub(a, client({ username: 'admin' }), 'x'), NOT_AUTHORIZED);
    assert.equal(sub(a, client(), 'x'), NOT_AUTHORIZED);
  });

  it('a reloaded ACL applies to clients already connected', () => {
    const a = authorizer('topic write a\n');
    const c = client();
    assert.equal(pub(a, c, 'a'), OK);
    a.setAcl(parseAclFile('topic write b\n', 'acl.conf'));
    assert.equal(pub(a, c, 'a'), NOT_AUTHORIZED);
    assert.equal(pub(a, c, 'b'), OK);
  });
});

describe('auth: the decision memo is bounded whatever topics a client chooses', () => {
  const acl = authorizer(['user alice', 'topic readwrite alice/#', 'topic deny alice/private/#'].join('\n'));

  it('holds at most 256 topics of at most 256 characters per map, and decides long and boundary topics as uncached ones', () => {
    const alice = client({ clientId: 'memo', username: 'alice' });
    const long = (prefix: string, i: number, length: number): string => `${prefix}${i}/`.padEnd(length, 'x');
    // 2,000 distinct topics at each boundary length, 60,000-character ones among them, published and subscribed.
    for (let i = 0; i < 2000; i++) {
      for (const length of [255, 256, 257, 60_000]) {
        assert.equal(pub(acl, alice, long('alice/t', i, length)), OK);
        assert.equal(pub(acl, alice, long('alice/private/', i, length)), NOT_AUTHORIZED);
        assert.equal(pub(acl, alice, long('bob/', i, length)), NOT_AUTHORIZED);
        assert.equal(sub(acl, alice, long('alice/f', i, length)), OK);
      }
    }
    const held = acl.cachedCharacters(alice);
    assert.ok(held > 0, 'short topics are memoised');
    assert.ok(held <= 2 * 256 * 256, `at most 256 × 256 characters per map (${held})`);
    // Asked again, the answers are the same (from the memo or not).
    assert.equal(pub(acl, alice, long('alice/t', 1999, 256)), OK);
    assert.equal(pub(acl, alice, long('alice/private/', 1999, 60_000)), NOT_AUTHORIZED);
  });

  it('forget drops the memo, and the rules are compiled again when next asked', () => {
    const alice = client({ clientId: 'memo2', username: 'alice' });
    assert.equal(pub(acl, alice, 'alice/a'), OK);
    assert.ok(acl.cachedCharacters(alice) > 0);
    acl.forget(alice);
    assert.equal(acl.cachedCharacters(alice), 0);
    assert.equal(pub(acl, alice, 'alice/private/x'), NOT_AUTHORIZED);
    assert.equal(pub(acl, alice, 'alice/a'), OK);
  });
});

describe('auth: credential grants (token acl claim)', () => {
  const grants = { publish: ['t/out/#'], subscribe: ['t/in/+'], deny: ['t/in/secret'] };

  it('without file authorization, grants are the only rules for a client that has them', () => {
    const a = new Authorizer(false);
    const c = client({ grants });
    assert.equal(pub(a, c, 't/out/x/y'), OK);
    assert.equal(pub(a, c, 'elsewhere'), NOT_AUTHORIZED);
    assert.equal(sub(a, c, 't/in/x'), OK);
    assert.equal(sub(a, c, 't/in/+'), NOT_AUTHORIZED, 'overlaps the deny');
    assert.equal(sub(a, c, 't/in/secret'), NOT_AUTHORIZED);
    // A client without grants is not restricted when file authorization is off.
    assert.equal(pub(a, client(), 'elsewhere'), OK);
  });

  it('with file authorization, grants add to the file rules and a file deny still wins', () => {
    const a = authorizer('user u\ntopic write file/#\ntopic deny t/out/blocked\n');
    const c = client({ username: 'u', grants });
    assert.equal(pub(a, c, 'file/x'), OK);
    assert.equal(pub(a, c, 't/out/x'), OK);
    assert.equal(pub(a, c, 't/out/blocked'), NOT_AUTHORIZED);
  });
});
