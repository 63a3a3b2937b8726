// Moving a persistent session between cluster nodes over NATS. A client that reconnects with Clean
// Start 0 to another node gets its session there: the connecting node's claim carries a reply
// subject, every other node answers it (the node holding the session with the session, in parts no
// larger than the server's max_payload; the others with an empty answer), and the connecting node
// adopts the session before it sends CONNACK.
//
//   reply headers   Starling-Origin  the answering node
//                   Starling-Part    "i/n" (0-based part i of n; "0/0" = no session here)
//   reply payload   part i of the JSON of the SessionTransfer (Buffers kept, store/json.ts)
import { headers, type Msg, type NatsConnection } from '@nats-io/transport-node';
import type { SessionTransfer } from '../../broker/cluster-link.js';
import { decodeJson, encodeJson } from '../../store/json.js';
import { H } from './wire.js';
import { MAX_NODES } from './members.js';
import { isNodeId } from './subjects.js';

export const PART_HEADER = 'Starling-Part';
/** Room left in each part for headers and protocol overhead. */
const HEADROOM = 4096;

/** The parts of one answer: the transfer cut to fit the server's max_payload, or one empty part. */
export function answerParts(transfer: SessionTransfer | undefined, maxPayload: number): Buffer[] {
  if (!transfer) return [];
  const bytes = Buffer.from(encodeJson(transfer), 'utf8');
  const size = Math.max(1024, maxPayload - HEADROOM);
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) parts.push(bytes.subarray(at, at + size));
  return parts;
}

/** Sends a node's answer to `reply`: the parts, or "0/0" when it had no session. */
export function sendAnswer(nc: NatsConnection, reply: string, nodeId: string, parts: Buffer[]): void {
  if (parts.length === 0) {
    const h = headers();
    h.set(H.origin, nodeId);
    h.set(PART_HEADER, '0/0');
    nc.publish(reply, new Uint8Array(0), { headers: h });
    return;
  }
  parts.forEach((part, i) => {
    const h = headers();
    h.set(H.origin, nodeId);
    h.set(PART_HEADER, `${i}/${parts.length}`);
    nc.publish(reply, part, { headers: h });
  });
}

/**
 * Collects the answers to one claim: resolves once each of `expected` nodes answered in full (or at
 * `timeoutMs`, for a node that is gone but not yet missed) with the session one of them held.
 */
export class AnswerCollector {
  private readonly parts = new Map<string, { n: number; got: Map<number, Uint8Array> }>();
  private readonly done = new Set<string>();
  private transfer: SessionTransfer | undefined;
  private finish!: () => void;
  readonly finished: Promise<void>;

  constructor(
    private readonly expected: ReadonlySet<string>,
    private readonly onMalformed: (why: string) => void,
  ) {
    this.finished = new Promise((resolve) => (this.finish = resolve));
    if (expected.size === 0) this.finish();
  }

  get session(): SessionTransfer | undefined {
    return this.transfer;
  }

  /** Expected nodes that have not answered in full (yet). */
  silent(): string[] {
    return [...this.expected].filter((n) => !this.done.has(n));
  }

  receive(m: Msg): void {
    const origin = m.headers?.get(H.origin) ?? '';
    const part = /^(\d{1,9})\/(\d{1,9})$/.exec(m.headers?.get(PART_HEADER) ?? '');
    if (!origin || !part) return this.onMalformed('an answer to a claim without origin or part');
    // Each node once (the nodes asked, and a few more that joined meanwhile), each part once, in the
    // count its first part said: nothing else is kept (the collector lives at most moveTimeoutMs and
    // its bounded waits).
    const welcome = this.expected.has(origin) || (isNodeId(origin) && this.parts.size + this.done.size < MAX_NODES);
    if (!welcome || this.done.has(origin)) return this.onMalformed('an answer to a claim from a node not asked, or again');
    const i = Number(part[1]);
    const n = Number(part[2]);
    if (n === 0) return this.complete(origin);
    let entry = this.parts.get(origin);
    if (!entry) this.parts.set(origin, (entry = { n, got: new Map() }));
    if (n !== entry.n || i >= n || entry.got.has(i)) return this.onMalformed('an answer to a claim with a part out of its count');
    entry.got.set(i, Buffer.from(m.data));
    if (entry.got.size < entry.n) return;
    const bytes = Buffer.concat([...Array(entry.n).keys()].map((k) => entry!.got.get(k) ?? new Uint8Array(0)));
    this.parts.delete(origin);
    try {
      const t = decodeJson<SessionTransfer>(bytes.toString('utf8'));
      if (this.transfer === undefined) this.transfer = t;
      else this.onMalformed(`a second node (${origin}) answered with the same session`);
    } catch (err) {
      this.onMalformed(`an undecodable session from ${origin}: ${(err as Error).message}`);
    }
    this.complete(origin);
  }

  private complete(origin: string): void {
    this.done.add(origin);
    for (const node of this.expected) if (!this.done.has(node)) return;
    this.finish();
  }
}
