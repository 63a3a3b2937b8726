// What this node sends the others in one event-loop turn: per destination node, the messages of the
// turn in order, sent from setImmediate as ONE NATS message (a frame of ../batch-frame.ts) on that
// node's inbox subject. Each message is encoded once, straight into the first destination's frame,
// and copied as bytes into the others' (each node's writer keeps its buffer; frames are copied out). A frame never exceeds the NATS server's max_payload: a batch
// that would is sent at once and the next one started.
import { FrameWriter } from '../batch-frame.js';
import type { StoredMessage } from '../../store/ports.js';
import { MAX_NODES } from './members.js';

/** A shared-group message this node picked itself for: `shared` is the group's key (`group\0filter`). */
export interface LocalSharedEntry {
  message: StoredMessage;
  shared: string;
}

export interface BatchSender {
  /** Publishes one frame for `node`; throws what the NATS client throws. */
  publish(node: string, frame: Uint8Array): void;
  /** The largest frame the NATS server takes. */
  maxBytes(): number;
  /** Entries this node sent itself (its own members of shared groups). */
  local(entries: LocalSharedEntry[]): void;
  /** A frame could not be sent (counted and logged by the link). */
  failed(err: unknown, node: string, entries: number): void;
}

export class NodeBatches {
  /** Nodes with entries this turn, in order, and their writer; this node's own shared-group entries in `local` (its place kept here). */
  private readonly pending = new Map<string, FrameWriter | undefined>();
  private local: LocalSharedEntry[] = [];
  /** A writer per node, its buffer kept from turn to turn (frames are copied out of it). */
  private readonly writers = new Map<string, FrameWriter>();
  private scheduled = false;
  /** The sender's maxBytes, read once per turn. */
  private max = 0;

  constructor(
    private readonly origin: string,
    private readonly sender: BatchSender,
  ) {}

  /**
   * `message` for each of `nodes` (none of them this node). Throws, with nothing added, if it can
   * never be sent: larger than a frame may be, or properties that cannot be encoded.
   */
  plain(nodes: readonly string[], message: StoredMessage): void {
    if (nodes.length === 0) return;
    // For more than one node, written without back-references, so its bytes fit every frame.
    const first = this.append(nodes[0], message, undefined, false, nodes.length > 1);
    if (nodes.length === 1) return;
    for (let i = 1; i < nodes.length; i++) {
      const node = nodes[i];
      let w = this.writer(node);
      if (w.appendEncoded(first)) continue;
      this.send(node, w);
      w = this.writer(node);
      w.appendEncoded(first);
    }
  }

  /**
   * `message` for the member of shared group `key` on `node` (this node included); `handedOn` marks
   * one a node hands on because its own member left (the next node does not hand it on again).
   * Throws as `plain`.
   */
  shared(node: string, message: StoredMessage, key: string, handedOn = false): void {
    if (node !== this.origin) return void this.append(node, message, key, handedOn);
    if (!this.pending.has(node)) this.pending.set(node, undefined);
    this.local.push({ message, shared: key });
    this.schedule();
  }

  /** Sends every pending batch now (end of the turn, or before something that must follow them). */
  flush(): void {
    this.scheduled = false;
    // Read again next turn: a reconnect may land on a server with another max_payload.
    this.max = 0;
    if (this.pending.size === 0) return;
    for (const [node, w] of this.pending) this.send(node, w);
  }

  /** Drops what is pending (the link closes). */
  clear(): void {
    this.pending.clear();
    this.writers.clear();
    this.local = [];
  }

  private append(node: string, message: StoredMessage, key: string | undefined, handedOn = false, standalone = false): FrameWriter {
    let w = this.writer(node);
    if (w.append(message, key, handedOn, standalone)) return w;
    if (w.entries > 0) {
      this.send(node, w);
      w = this.writer(node);
      if (w.append(message, key, handedOn, standalone)) return w;
    }
    throw new Error(`message of ${message.payload.length} payload bytes does not fit the NATS server's max_payload (${this.max})`);
  }

  /** The node's frame of this turn, opened if need be. */
  private writer(node: string): FrameWriter {
    let w = this.pending.get(node);
    if (w) return w;
    if (this.max === 0) this.max = this.sender.maxBytes();
    w = this.writers.get(node);
    // One kept per node sent to: nodes come and go (node ids are chosen outside), so past MAX_NODES
    // the writers of nodes with nothing pending go (a buffer of at most 64 KiB each).
    if (!w && this.writers.size >= MAX_NODES) for (const n of this.writers.keys()) if (!this.pending.has(n)) this.writers.delete(n);
    // A new max_payload (another server after a reconnect) takes a new writer.
    if (!w || w.max !== this.max) this.writers.set(node, (w = new FrameWriter(this.origin, this.max)));
    this.pending.set(node, w);
    this.schedule();
    return w;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private send(node: string, w: FrameWriter | undefined): void {
    this.pending.delete(node);
    // This node's own turn in a shared group: delivered here, at the same point of the turn.
    if (!w) {
      const entries = this.local;
      this.local = [];
      return this.sender.local(entries);
    }
    const entries = w.entries;
    if (entries === 0) return;
    const frame = w.finish();
    try {
      this.sender.publish(node, frame);
    } catch (err) {
      this.sender.failed(err, node, entries);
    }
  }
}
