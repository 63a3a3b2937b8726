// Retained messages: the last retained message per topic, found by subscription filter.
import type { StoredMessage } from '../store/ports.js';
import { TopicTrie } from '../topics/trie.js';

export class RetainedIndex {
  private readonly trie = new TopicTrie<StoredMessage>();
  private readonly byTopic = new Map<string, StoredMessage>();

  get size(): number {
    return this.byTopic.size;
  }

  get(topic: string): StoredMessage | undefined {
    return this.byTopic.get(topic);
  }

  /** Stores or replaces the retained message of its topic. */
  set(message: StoredMessage): void {
    this.delete(message.topic);
    this.byTopic.set(message.topic, message);
    this.trie.add(message.topic, message);
  }

  delete(topic: string): boolean {
    const old = this.byTopic.get(topic);
    if (!old) return false;
    this.byTopic.delete(topic);
    this.trie.remove(topic, old);
    return true;
  }

  /** Retained messages whose topic matches the filter ($-topics excluded from leading wildcards). */
  match(filter: string, now: number): StoredMessage[] {
    const out: StoredMessage[] = [];
    this.trie.matchFilter(filter, (m) => {
      if (m.expiresAt === undefined || m.expiresAt > now) out.push(m);
    });
    return out;
  }

  /** Removes retained messages whose expiry passed; returns their topics. */
  sweepExpired(now: number): string[] {
    const gone: string[] = [];
    for (const [topic, m] of this.byTopic) {
      if (m.expiresAt !== undefined && m.expiresAt <= now) gone.push(topic);
    }
    for (const t of gone) this.delete(t);
    return gone;
  }

  all(): IterableIterator<StoredMessage> {
    return this.byTopic.values();
  }
}
