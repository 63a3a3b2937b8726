// One message owed to a session, as a state machine the compiler checks. An entry is one object
// from enqueue to its end (sets and batches hold it by identity), so the transitions below change it
// in place and return it as its new state; they are the only code that writes `state`.
//
//   queued ─windowed─► unsent ─markSent─► awaitingPuback (QoS 1) ──PUBACK──► (gone)
//                        ▲                  awaitingPubrec (QoS 2) ──PUBREC──► awaitingPubcomp ──PUBCOMP──► (gone)
//                        └─markResend (a new connection: DUP)─┘      (markReleased)
//
// `written` exists only before an entry is sent: an entry is never sent before it is durable, so a
// sent one always is. `dup` exists only on an unsent entry: it went out on an earlier connection.
import type { QoS } from '../protocol/constants.js';
import type { QueueEntry, StoredMessage } from '../store/ports.js';
import type { Delivery } from './delivery.js';
import { entryBytes } from './message.js';

interface Entry {
  /** Order within the session; also the store key of the queue entry. */
  readonly seq: number;
  readonly message: StoredMessage;
  /** QoS it is delivered at: the lower of the published and the granted QoS. */
  readonly qos: QoS;
  readonly retain: boolean;
  readonly subscriptionIds?: number[];
  /** Size counted against the session's queue byte limit. */
  readonly bytes: number;
}

/** Waiting for room in the window; no packet identifier yet. */
export interface Queued extends Entry {
  readonly state: 'queued';
  /** False while a store write of this entry is pending. */
  written: boolean;
}

/** Holds a packet identifier; the PUBLISH has not gone out on the current connection. */
export interface Unsent extends Entry {
  readonly state: 'unsent';
  readonly packetId: number;
  /** False while a store write of this entry (its new state) is pending. */
  written: boolean;
  /** It went out on an earlier connection: it goes with DUP [MQTT-3.3.1-1]. */
  readonly dup: boolean;
}

/** QoS 1 PUBLISH sent: PUBACK completes it. */
export interface AwaitingPuback extends Entry {
  readonly state: 'awaitingPuback';
  readonly qos: 1;
  readonly packetId: number;
}

/** QoS 2 PUBLISH sent: PUBREC releases it. */
export interface AwaitingPubrec extends Entry {
  readonly state: 'awaitingPubrec';
  readonly qos: 2;
  readonly packetId: number;
}

/**
 * PUBREC received: the receiver has the message; from now on only the identifier matters (PUBREL
 * is resent, never the PUBLISH [MQTT-4.3.3-4, MQTT-4.3.3-6]); PUBCOMP completes it.
 */
export interface AwaitingPubcomp extends Entry {
  readonly state: 'awaitingPubcomp';
  readonly qos: 2;
  readonly packetId: number;
}

export type Sent = AwaitingPuback | AwaitingPubrec;
/** An entry in the in-flight window (it holds a packet identifier). */
export type Inflight = Unsent | Sent | AwaitingPubcomp;
export type Outgoing = Queued | Inflight;

/** What a transition may write; only the functions below see it. */
interface Writable {
  state: Outgoing['state'];
  packetId: number;
  written: boolean;
  dup: boolean;
}
const writable = (o: Outgoing): Writable => o as unknown as Writable;

/** A new entry at the end of a queue (written: no store write pending for it). */
export function newEntry(seq: number, d: Delivery, bytes: number): Queued {
  const o: Queued = { seq, message: d.message, qos: d.qos, retain: d.retain, state: 'queued', written: true, bytes };
  if (d.subscriptionIds) (o as { subscriptionIds?: number[] }).subscriptionIds = d.subscriptionIds;
  return o;
}

/** Into the window with a packet identifier; not sent on this connection yet. */
export function windowed(o: Queued, packetId: number): Unsent {
  const w = writable(o);
  w.packetId = packetId;
  w.dup = false;
  w.state = 'unsent';
  return o as unknown as Unsent;
}

/** The PUBLISH went out on the current connection. */
export function markSent(o: Unsent): Sent {
  writable(o).state = o.qos === 2 ? 'awaitingPubrec' : 'awaitingPuback';
  return o as unknown as Sent;
}

/** A new connection: what was sent on the old one goes again, with DUP. */
export function markResend(o: Sent): Unsent {
  const w = writable(o);
  w.dup = true;
  w.written = true;
  w.state = 'unsent';
  return o as unknown as Unsent;
}

/** PUBREC for a QoS 2 entry (also one not yet resent on this connection, or already released). */
export function markReleased(o: Unsent | AwaitingPubrec | AwaitingPubcomp): AwaitingPubcomp {
  writable(o).state = 'awaitingPubcomp';
  return o as unknown as AwaitingPubcomp;
}

/** Whether the PUBLISH went out on the current connection (released entries included). */
export function isSent(o: Outgoing): o is Sent | AwaitingPubcomp {
  return o.state === 'awaitingPuback' || o.state === 'awaitingPubrec' || o.state === 'awaitingPubcomp';
}

/** Whether the store holds this entry as it is now (a sent entry always is). */
export function isWritten(o: Outgoing): boolean {
  return o.state === 'queued' || o.state === 'unsent' ? o.written : true;
}

/** A store write of the entry (its body or its new state) starts: it is not sent until it is durable. */
export function writing(o: Outgoing): void {
  if (o.state === 'queued' || o.state === 'unsent') o.written = false;
}

/** The store write finished (or failed for an entry stored before, which may then go on as it was). */
export function writtenDown(o: Outgoing): void {
  if (o.state === 'queued' || o.state === 'unsent') o.written = true;
}

/** The stored form: the store knows queued, in flight (sent or not), and released. */
export function toQueueEntry(o: Outgoing): QueueEntry {
  const state: QueueEntry['state'] = o.state === 'queued' ? 'queued' : o.state === 'awaitingPubcomp' ? 'released' : 'inflight';
  const entry: QueueEntry = { seq: o.seq, messageId: o.message.id, qos: o.qos, retain: o.retain, state };
  if (o.subscriptionIds) entry.subscriptionIds = o.subscriptionIds;
  if (o.state !== 'queued') entry.packetId = o.packetId;
  return entry;
}

/**
 * An entry read back from the store. Anything that had a packet identifier may have reached the
 * client, so it counts as sent (a resumption resends it with DUP); an entry stored in flight
 * without an identifier is queued again.
 */
export function fromQueueEntry(e: QueueEntry, message: StoredMessage): Outgoing {
  const o = newEntry(e.seq, { message, qos: e.qos, retain: e.retain, subscriptionIds: e.subscriptionIds }, entryBytes(message));
  if (e.state === 'queued' || e.packetId === undefined) return o;
  const w = writable(o);
  w.packetId = e.packetId;
  // (Only QoS 2 has a released state: a record that says otherwise is resent as QoS 1.)
  w.state = e.qos !== 2 ? 'awaitingPuback' : e.state === 'released' ? 'awaitingPubcomp' : 'awaitingPubrec';
  return o as unknown as Outgoing;
}
