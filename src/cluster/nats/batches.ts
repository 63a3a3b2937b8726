// What this node sends the others in one event-loop turn: per destination node, the messages of the
// turn in order, sent from setImmediate as ONE NATS message (a frame of ../batch-frame.ts) on that
// node's inbox subject. A frame never exceeds the NATS server's max_payload: a batch that would is
// sent at once and the next one started.
import { encodeFrame, frameHeaderSize, sizeEntry, type FrameEntry, type SizedEntry } from '../batch-frame.js';

interface Pending {
  entries: SizedEntry[];
  bytes: number;
}

export interface BatchSender {
  /** Publishes one frame for `node`; throws what the NATS client throws. */
  publish(node: string, frame: Uint8Array): void;
  /** The largest frame the NATS server takes. */
  maxBytes(): number;
  /** Entries this node sent itself (its own members of shared groups). */
  local(entries: FrameEntry[]): void;
  /** A frame could not be sent (counted and logged by the link). */
  failed(err: unknown, node: string, entries: number): void;
}

export class NodeBatches {
  private readonly pending = new Map<string, Pending>();
  private scheduled = false;
  private readonly header: number;
  /** The sender's maxBytes, read once per turn. */
  private max = 0;

  constructor(
    private readonly origin: string,
    private readonly sender: BatchSender,
  ) {
    this.header = frameHeaderSize(origin);
  }

  /**
   * Sizes an entry once (it may go to several nodes). Throws if it can never be sent: larger than a
   * frame may be, or properties that cannot be encoded.
   */
  size(entry: FrameEntry): SizedEntry {
    const sized = sizeEntry(entry);
    if (this.max === 0) this.max = this.sender.maxBytes();
    if (this.header + sized.size > this.max) {
      throw new Error(`message of ${sized.size} bytes is larger than the NATS server's max_payload (${this.max})`);
    }
    return sized;
  }

  add(node: string, entry: SizedEntry): void {
    let p = this.pending.get(node);
    if (this.max === 0) this.max = this.sender.maxBytes();
    if (p && this.header + p.bytes + entry.size > this.max) {
      this.send(node, p);
      p = undefined;
    }
    if (!p) this.pending.set(node, (p = { entries: [], bytes: 0 }));
    p.entries.push(entry);
    p.bytes += entry.size;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Sends every pending batch now (end of the turn, or before something that must follow them). */
  flush(): void {
    this.scheduled = false;
    // Read again next turn: a reconnect may land on a server with another max_payload.
    this.max = 0;
    if (this.pending.size === 0) return;
    for (const [node, p] of this.pending) this.send(node, p);
  }

  private send(node: string, p: Pending): void {
    this.pending.delete(node);
    // This node's own turn in a shared group: delivered here, at the same point of the turn.
    if (node === this.origin) return this.sender.local(p.entries.map((e) => e.entry));
    try {
      this.sender.publish(node, encodeFrame(this.origin, p.entries));
    } catch (err) {
      this.sender.failed(err, node, p.entries.length);
    }
  }

  /** Drops what is pending (the link closes). */
  clear(): void {
    this.pending.clear();
  }
}
