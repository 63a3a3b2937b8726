// covers(rule, filter) and overlaps(a, b): worked examples, then properties against a brute-force
// reference over every topic name of a small alphabet, written from the spec's matching rules.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { covers, overlaps } from '../../src/topics/cover.js';

/** Reference matcher straight from [MQTT-4.7]: `+` one level, `#` the rest incl. parent, `$` rule. */
function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (t[0].startsWith('$') && (f[0] === '+' || f[0] === '#')) return false; // [MQTT-4.7.2-1]
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const LEVELS = ['a', 'b', '', '$S'];
/** Every topic name of 1..4 levels over LEVELS (340 names): enough to expose any wrong answer below. */
const TOPICS: string[] = [];
{
  let frontier = LEVELS.map((l) => [l]);
  for (let depth = 1; depth <= 4; depth++) {
    for (const levels of frontier) TOPICS.push(levels.join('/'));
    frontier = frontier.flatMap((levels) => LEVELS.map((l) => [...levels, l]));
  }
}

const filterArb = fc
  .array(fc.constantFrom('a', 'b', '', '$S', '+'), { minLength: 1, maxLength: 3 })
  .chain((levels) => fc.boolean().map((hash) => (hash ? [...levels, '#'] : levels).join('/')))
  .chain((f) => fc.constantFrom(f, '#', '+/#', '$S/#'));

describe('auth: filter coverage (subscription vs read rule)', () => {
  const yes: Array<[string, string]> = [
    ['#', '#'],
    ['#', 'a/b'],
    ['#', '+/+'],
    ['a/#', 'a'], // `#` also matches the parent level [MQTT-4.7.1-2]
    ['a/#', 'a/+/c'],
    ['a/#', 'a/#'],
    ['a/+', 'a/b'],
    ['a/+', 'a/+'],
    ['+/b', 'a/b'],
    ['$SYS/#', '$SYS/broker/load'],
    ['$SYS/#', '$SYS/#'],
  ];
  const no: Array<[string, string]> = [
    ['a/+', 'a/#'], // the filter reaches deeper than one level
    ['a/+', 'a'], // `+` needs a level
    ['a/b', 'a/+'],
    ['a/b', 'a/#'],
    ['a/#', '#'],
    ['a/#', '+/b'],
    ['#', '$SYS/#'], // a leading wildcard does not reach `$` topics [MQTT-4.7.2-1]
    ['+/#', '$SYS/x'],
    ['a', 'a/b'],
    ['a/b', 'a'],
  ];
  for (const [rule, filter] of yes) it(`rule ${rule} covers ${filter}`, () => assert.equal(covers(rule, filter), true));
  for (const [rule, filter] of no) it(`rule ${rule} does not cover ${filter}`, () => assert.equal(covers(rule, filter), false));

  it('is sound: when it says covered, every topic the filter matches is matched by the rule', () => {
    fc.assert(
      fc.property(filterArb, filterArb, (rule, filter) => {
        if (!covers(rule, filter)) return;
        for (const t of TOPICS) if (matches(filter, t)) assert.ok(matches(rule, t), `${rule} ⊇ ${filter} but misses ${t}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('is complete for single rules without a leading-wildcard special case', () => {
    // When the reference says the rule matches every topic the filter does (over the sample), covers
    // agrees, except the documented conservative case of a rule `+/…#` against the filter `#`.
    fc.assert(
      fc.property(filterArb, filterArb, (rule, filter) => {
        const filterTopics = TOPICS.filter((t) => matches(filter, t));
        if (filterTopics.length === 0 || filter.startsWith('#')) return;
        // Depth beyond the sample (4 levels) could hide a miss, so only shallow filters count.
        if (filter.endsWith('#') && !rule.endsWith('#')) return;
        if (filterTopics.every((t) => matches(rule, t))) assert.ok(covers(rule, filter), `${rule} should cover ${filter}`);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('auth: filter overlap (subscription vs deny rule)', () => {
  const yes: Array<[string, string]> = [
    ['#', 'a/b'],
    ['a/#', 'a'],
    ['a', 'a/#'],
    ['+/b', 'a/+'],
    ['a/+/c', 'a/#'],
    ['$SYS/#', '$SYS/+'],
  ];
  const no: Array<[string, string]> = [
    ['a/b', 'a/c'],
    ['a/+', 'a'],
    ['#', '$SYS/#'],
    ['$SYS/#', '+/x'],
    ['a/b/c', 'a/+'],
  ];
  for (const [a, b] of yes) it(`${a} overlaps ${b}`, () => assert.equal(overlaps(a, b), true));
  for (const [a, b] of no) it(`${a} does not overlap ${b}`, () => assert.equal(overlaps(a, b), false));

  it('is exact: true exactly when some topic is matched by both (over the sample)', () => {
    fc.assert(
      fc.property(filterArb, filterArb, (a, b) => {
        const common = TOPICS.some((t) => matches(a, t) && matches(b, t));
        // The sample is 4 levels deep, and these filters at most 4 levels, so a common topic exists
        // in the sample whenever one exists at all.
        assert.equal(overlaps(a, b), common, `${a} vs ${b}`);
        assert.equal(overlaps(b, a), common, 'symmetric');
      }),
      { numRuns: 3000 },
    );
  });
});
