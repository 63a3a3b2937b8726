// Retained messages: the last retained message per topic, found by subscription filter.
import type { StoredMessage } from '../store/ports.js';
import { TopicTrie } from '../topics/trie.js';
import { messageBytes } from '../session/message.js';

/** The budgets of the retained store (maxRetainedMessages, maxRetainedBytes; bytes 0 = no limit). */
export interface RetainedLimits {
  maxMessages: number;
  maxBytes: number;
}

export type RetainedLimit = 'maxRetainedMessages' | 'maxRetainedBytes';

/** What one retained message costs against maxRetainedBytes (messageBytes). */
export const retainedBytes = messageBytes;

/** What `RetainedIndex.match`'s `take` says of one message. */
export const TAKE = 1;
export const SKIP = 0;
export const STOP = -1;
export type Take = typeof TAKE | typeof SKIP | typeof STOP;

export class RetainedIndex {
  private readonly trie = new TopicTrie<StoredMessage>();
  private readonly byTopic = new Map<string, StoredMessage>();
  private total = 0;
  /** Where the last sweepExpired stopped. */
  private cursor?: IterableIterator<[string, StoredMessage]>;

  get size(): number {
    return this.byTopic.size;
  }

  /** Bytes held, as retainedBytes counts them. */
  get bytes(): number {
    return this.total;
  }

  /**
   * The limit that refuses retaining `message` now, or undefined. A new topic counts against
   * maxMessages; only growth counts against maxBytes, so replacing a topic's message with one no
   * larger always fits (and clearing one is not a store at all).
   */
  refusal(message: StoredMessage, limits: RetainedLimits): RetainedLimit | undefined {
    const old = this.byTopic.get(message.topic);
    if (!old && this.byTopic.size >= limits.maxMessages) return 'maxRetainedMessages';
    if (limits.maxBytes <= 0) return undefined;
    const growth = retainedBytes(message) - (old ? retainedBytes(old) : 0);
    return growth > 0 && this.total + growth > limits.maxBytes ? 'maxRetainedBytes' : undefined;
  }

  get(topic: string): StoredMessage | undefined {
    return this.byTopic.get(topic);
  }

  /** Stores or replaces the retained message of its topic. */
  set(message: StoredMessage): void {
    this.delete(message.topic);
    this.byTopic.set(message.topic, message);
    this.trie.add(message.topic, message);
    this.total += retainedBytes(message);
  }

  delete(topic: string): boolean {
    const old = this.byTopic.get(topic);
    if (!old) return false;
    this.byTopic.delete(topic);
    this.trie.remove(topic, old);
    this.total -= retainedBytes(old);
    return true;
  }

  /**
   * Retained messages whose topic matches the filter ($-topics excluded from leading wildcards), at
   * most `max` of them, and only those `take` accepts (TAKE; SKIP leaves one out; STOP ends the
   * walk there: RetainedService.deliverRetained reads no further than a session can take).
   */
  match(filter: string, now: number, max = Infinity, take?: (m: StoredMessage) => Take): StoredMessage[] {
    const out: StoredMessage[] = [];
    let going = true;
    this.trie.matchFilter(
      filter,
      (m) => {
        if (!going || out.length >= max || (m.expiresAt !== undefined && m.expiresAt <= now)) return;
        const t = take === undefined ? TAKE : take(m);
        if (t === TAKE) out.push(m);
        else if (t === STOP) going = false;
      },
      () => going && out.length < max,
    );
    return out;
  }

  /**
   * Removes retained messages whose expiry passed, looking at no more than `maxScan` of them per
   * call: a cursor carries on where the last call stopped (and starts over at the end), so a large
   * index is swept over several calls without one long pause. Returns the removed topics.
   * Map iterators stay valid across deletions, and an entry set after the cursor passed is met
   * on the next round.
   */
  sweepExpired(now: number, maxScan = Infinity): string[] {
    const gone: string[] = [];
    this.cursor ??= this.byTopic.entries();
    for (let scanned = 0; scanned < maxScan; scanned++) {
      const next = this.cursor.next();
      if (next.done) {
        this.cursor = undefined;
        break;
      }
      const [topic, m] = next.value;
      if (m.expiresAt !== undefined && m.expiresAt <= now) gone.push(topic);
    }
    for (const t of gone) this.delete(t);
    return gone;
  }

  all(): IterableIterator<StoredMessage> {
    return this.byTopic.values();
  }
}
