// When a node's batches for the other nodes go out (src/cluster/nats/batches.ts): at the end of the
// event-loop turn, or, once a batch reaches SEND_SOONER_BYTES, at the end of the callback that made
// it so; never in the middle of a callback, so what one callback forwarded stays in one frame.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { NodeBatches, SEND_SOONER_BYTES, type LocalSharedEntry } from '../../src/cluster/nats/batches.js';
import { decodeFrame } from '../../src/cluster/batch-frame.js';
import { message } from './helpers.js';

function batches(): { b: NodeBatches; sent: Array<{ node: string; topics: string[] }>; local: LocalSharedEntry[] } {
  const sent: Array<{ node: string; topics: string[] }> = [];
  const local: LocalSharedEntry[] = [];
  const b = new NodeBatches('me', {
    publish: (node, frame) => void sent.push({ node, topics: decodeFrame(frame).messages.map((m) => m.topic) }),
    maxBytes: () => 1024 * 1024,
    local: (entries) => void local.push(...entries),
    failed: (err) => {
      throw err;
    },
  });
  return { b, sent, local };
}

describe('node batches', () => {
  it('sends a small batch at the end of the turn, one frame per node', async () => {
    const { b, sent } = batches();
    for (let i = 0; i < 10; i++) b.plain(['n2', 'n3'], message(`t/${i}`));
    await Promise.resolve();
    assert.equal(sent.length, 0, 'not before the end of the turn');
    await nextTurn();
    assert.deepEqual(
      sent.map((s) => [s.node, s.topics.length]),
      [
        ['n2', 10],
        ['n3', 10],
      ],
    );
  });

  it('sends a batch that reached SEND_SOONER_BYTES at the end of the callback that filled it, whole, in order', async () => {
    const { b, sent, local } = batches();
    const payload = Buffer.alloc(1024, 1);
    // One callback forwards three times the threshold: one frame, not split at the threshold.
    const n = Math.ceil((3 * SEND_SOONER_BYTES) / payload.length);
    for (let i = 0; i < n; i++) b.plain(['n2'], message(`t/${i}`, { payload }));
    b.shared('me', message('s/1', { qos: 1 }), 'g\0s/#');
    b.plain(['n3'], message('small'));
    assert.equal(sent.length, 0, 'nothing in the middle of the callback');
    await Promise.resolve();
    // Everything pending went out with it, this node's own shared-group entries delivered too.
    assert.deepEqual(
      sent.map((s) => [s.node, s.topics.length]),
      [
        ['n2', n],
        ['n3', 1],
      ],
    );
    assert.deepEqual(
      sent[0]!.topics,
      Array.from({ length: n }, (_, i) => `t/${i}`),
    );
    assert.equal(local.length, 1);
    // The next callback starts new batches, sent at the end of the turn again.
    b.plain(['n2'], message('later'));
    await Promise.resolve();
    assert.equal(sent.length, 2);
    await nextTurn();
    assert.deepEqual(sent[2], { node: 'n2', topics: ['later'] });
    await nextTurn();
    assert.equal(sent.length, 3, 'nothing sent twice');
  });
});
