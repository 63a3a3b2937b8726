// CPU per message of the cluster's forward path without sockets (issue 19): a node's link encoding
// messages into the frame of one (or more) destination nodes, a turn of `--per-turn` messages at a
// time (src/cluster/nats/batches.ts), and the receiving node decoding the frames with payloads
// copied, as nats/link.ts does. Messages look like scenario 7's: 1,000 topics, 64-byte payloads,
// ids from MessageIds (concatenated strings, as a broker makes them). Prints nanoseconds per message,
// the median of 9 rounds of 200,000 after 5 rounds of warm-up.
//
// With `--run N`, messages come in runs of N from one publisher on one topic, as scenario 7's
// publishers write them at 32 per write. With `--qos 1` (or 2) the messages carry their ids across
// (written as what each adds to the one before), which QoS 0 messages do not.
//
//   node dist/bench/frame-cost.js [--per-turn 32] [--nodes 1] [--run 1] [--qos 0]
import { NodeBatches } from '../src/cluster/nats/batches.js';
import { decodeFrame } from '../src/cluster/batch-frame.js';
import { MessageIds } from '../src/session/message.js';
import type { StoredMessage } from '../src/store/ports.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
};
const perTurn = arg('--per-turn', 32);
const run = arg('--run', 1);
const qos = arg('--qos', 0);
if (qos !== 0 && qos !== 1 && qos !== 2) throw new Error('--qos must be 0, 1 or 2');
const destinations = Array.from({ length: arg('--nodes', 1) }, (_, i) => `n${i + 2}`);

const ids = new MessageIds();
const readerIds = new MessageIds();
const payload = Buffer.alloc(64, 1);
const frames: Uint8Array[] = [];
const batches = new NodeBatches('n1', {
  publish: (_node, frame) => void frames.push(frame),
  maxBytes: () => 1024 * 1024 - 512,
  local: () => {},
  failed: (err) => {
    throw err;
  },
});
const publishers = Array.from({ length: 1000 }, (_, i) => `pub-${i}`);
// A topic string per message (decoded from each PUBLISH), one publisher id per connection.
const message = (i: number): StoredMessage => {
  const p = Math.floor(i / run) % 1000;
  return { id: ids.next(), topic: `bench/pair/${p}`, payload, qos, retain: false, createdAt: Date.now(), publisherId: publishers[p]! };
};
const cpu = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) * 1000;
};

function round(n: number): [number, number] {
  const messages = Array.from({ length: n }, (_, i) => message(i));
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i += perTurn) {
    for (let j = i; j < Math.min(i + perTurn, n); j++) batches.plain(destinations, messages[j]);
    batches.flush();
  }
  const encode = cpu(t0) / n;
  const got = frames.splice(0);
  const t1 = process.cpuUsage();
  let count = 0;
  for (const f of got) count += decodeFrame(f, readerIds, true).messages.length;
  const decode = cpu(t1) / count;
  if (count !== n * destinations.length) throw new Error(`decoded ${count} of ${n * destinations.length}`);
  return [encode, decode];
}

for (let i = 0; i < 5; i++) round(100_000);
const encode: number[] = [];
const decode: number[] = [];
for (let i = 0; i < 9; i++) {
  const [e, d] = round(200_000);
  encode.push(e);
  decode.push(d);
}
const median = (a: number[]): number => a.sort((x, y) => x - y)[a.length >> 1]!;
console.log(`per turn ${perTurn}, runs of ${run}, ${destinations.length} destination node(s): encode ${Math.round(median(encode))} ns per message, decode ${Math.round(median(decode))} ns per message and node`);
