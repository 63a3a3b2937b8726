// Admission: how many connections the broker takes in total and from one address, so a flood
// from one source cannot use up the descriptors everyone else needs. A place is taken when the
// socket is accepted — before a TLS handshake or a WebSocket upgrade, which are as cheap to start
// and leave hanging as a plain TCP connection — and given back once, whichever way it ends.
import type { Socket } from 'node:net';
import type { AdmissionGate, AdmissionTicket, GateOptions, ListenerInfo, Transport } from '../transport/transport.js';
import type { ConnectionLimit } from './refusal.js';

/** One connection's place. `release` may be called from every path that ends it: only the first counts. */
export interface Place {
  /** Counts the place under the client's address once it is known (behind a proxy); the limit that refuses it, if any. */
  locate(address: string): ConnectionLimit | undefined;
  release(): void;
}

export class Admission {
  private total = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerAddress: number,
  ) {}

  /**
   * Takes a place for a connection, counted under `address` too when it is known. Returns the
   * limit that refuses it instead (so the refusal is counted by cause).
   */
  enter(address: string | undefined): Place | ConnectionLimit {
    if (this.maxTotal > 0 && this.total >= this.maxTotal) return 'maxConnections';
    // Without a per-address limit nothing reads the counts by address: none are kept.
    const counted = this.countsAddresses ? address : undefined;
    if (counted !== undefined && this.full(counted)) return 'maxConnectionsPerAddress';
    this.total++;
    if (counted !== undefined) this.add(counted, 1);
    return new HeldPlace(this, counted);
  }

  /** Whether places are counted by address (maxConnectionsPerAddress is set). */
  get countsAddresses(): boolean {
    return this.maxPerAddress > 0;
  }

  /** A place given back (HeldPlace.release, once). */
  released(counted: string | undefined): void {
    this.total--;
    if (counted !== undefined) this.add(counted, -1);
  }

  /** Counts a held place under `address`, unless that address is full (the limit then). */
  located(address: string): ConnectionLimit | undefined {
    if (this.full(address)) return 'maxConnectionsPerAddress';
    this.add(address, 1);
    return undefined;
  }

  /** Places held now: sockets in a handshake or upgrade, and connections. */
  get open(): number {
    return this.total;
  }

  private full(address: string): boolean {
    return this.maxPerAddress > 0 && (this.byAddress.get(address) ?? 0) >= this.maxPerAddress;
  }

  private add(address: string, delta: number): void {
    const n = (this.byAddress.get(address) ?? 0) + delta;
    if (n <= 0) this.byAddress.delete(address);
    else this.byAddress.set(address, n);
  }
}

/**
 * One place under the limits: a small object with shared methods rather than two closures and
 * their context on every connection.
 */
class HeldPlace implements Place {
  private held = true;
  constructor(
    private readonly admission: Admission,
    private counted: string | undefined,
  ) {}

  locate(client: string): ConnectionLimit | undefined {
    if (!this.held || this.counted !== undefined || !this.admission.countsAddresses) return undefined;
    const refused = this.admission.located(client);
    if (refused === undefined) this.counted = client;
    return refused;
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.admission.released(this.counted);
  }
}

/** Sockets over a limit let in at once to show they are plain HTTP, and how long each may take. */
export const HTTP_GRACE_AT_ONCE = 16;
export const HTTP_GRACE_MS = 1000;

export interface GateEvents {
  refused(limit: ConnectionLimit, socket: Socket, listener: ListenerInfo): void;
  timedOut(socket: Socket, listener: ListenerInfo): void;
}

/**
 * A socket's place from accept until the MQTT connection on it takes over (claim) or it closes; a
 * socket that shows it is plain HTTP (leave) keeps it, untimed, until it closes. A socket over a limit on a WebSocket port holds no place: it has
 * a moment to show it is HTTP, and is counted as refused unless it does.
 */
export class GateTicket implements AdmissionTicket {
  readonly acceptedAt = Date.now();
  /** The socket carried plain HTTP first: an upgrade on it later starts its connect clock then. */
  private servedHttp = false;
  private timer?: NodeJS.Timeout;
  private done = false;
  /** Gives the place back if the socket closes first; removed once a connection holds the place. */
  private onClose?: () => void;

  constructor(
    readonly socket: Socket,
    private readonly listener: ListenerInfo,
    private readonly place: Place | undefined,
    readonly refused: ConnectionLimit | undefined,
    timeoutMs: number,
    private readonly events: GateEvents,
    private readonly gate: { untrack(t: GateTicket): void },
  ) {
    // connectTimeoutSec covers the handshake and the upgrade: the clock starts at accept.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!refused) events.timedOut(socket, listener);
      socket.destroy();
    }, timeoutMs);
    this.timer.unref();
    this.onClose = () => this.end(false);
    socket.once('close', this.onClose);
  }

  leave(): boolean {
    if (this.refused !== undefined || this.place === undefined) {
      this.end(true);
      return false;
    }
    // Untimed and untracked; the socket's close gives the place back (or an upgrade claims it).
    this.stop();
    this.servedHttp = true;
    return true;
  }

  /**
   * When the MQTT connection's connectTimeoutSec counts from: the accept, or for a socket that
   * carried plain HTTP before its upgrade (a kept-alive agent's), the upgrade: the accept may be
   * long past.
   */
  get since(): number {
    return this.servedHttp ? Date.now() : this.acceptedAt;
  }

  /** The socket became an MQTT connection: its own timer takes over from here. */
  claim(): Place | ConnectionLimit {
    if (this.refused || !this.place) return this.refused ?? 'maxConnections';
    this.stop();
    return this.place;
  }

  /**
   * The MQTT connection holds the place now and gives it back when it closes, so the socket's close
   * listener (and the closure behind it) need not live as long as an idle connection does.
   */
  handOver(): void {
    if (!this.onClose) return;
    this.socket.removeListener('close', this.onClose);
    this.onClose = undefined;
  }

  private end(http: boolean): void {
    this.stop();
    this.place?.release();
    if (this.done) return;
    this.done = true;
    if (this.refused && !http) this.events.refused(this.refused, this.socket, this.listener);
  }

  private stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.gate.untrack(this);
  }
}

/** The server's AdmissionGate: each TLS or WebSocket socket is counted and timed from accept. */
export class SocketGate implements AdmissionGate {
  /** Sockets accepted and not yet an MQTT connection, HTTP or closed. */
  private readonly pending = new Set<GateTicket>();
  private graced = 0;

  constructor(
    private readonly admission: Admission,
    private readonly timeoutMs: number,
    private readonly events: GateEvents,
  ) {}

  enter(socket: Socket, listener: ListenerInfo, opts: GateOptions): GateTicket | undefined {
    const place = this.admission.enter(opts.byAddress ? (socket.remoteAddress ?? '') : undefined);
    if (typeof place !== 'string') return this.track(new GateTicket(socket, listener, place, undefined, this.timeoutMs, this.events, this));
    // No CONNACK can be sent before a handshake: over the limit, the socket is closed at once —
    // except that an operator's /metrics or console request on a WebSocket port, which cannot be
    // told from an MQTT client yet, gets a short, bounded moment to show it is plain HTTP.
    if (!opts.http || this.graced >= HTTP_GRACE_AT_ONCE) {
      this.events.refused(place, socket, listener);
      socket.destroy();
      return undefined;
    }
    this.graced++;
    return this.track(new GateTicket(socket, listener, undefined, place, HTTP_GRACE_MS, this.events, this));
  }

  private track(t: GateTicket): GateTicket {
    this.pending.add(t);
    return t;
  }

  /** A ticket is settled: its socket is an MQTT connection, plain HTTP, or closed. */
  untrack(t: GateTicket): void {
    if (this.pending.delete(t) && t.refused) this.graced--;
  }

  /**
   * The place a transport's MQTT connection holds, and since when (its connect timeout counts from
   * there): its socket's since accept, claimed now, or for a transport that came without a ticket
   * (plain TCP, where accept and transport are one moment), one taken now.
   */
  admit(t: Transport): { place: Place; since: number } | ConnectionLimit {
    const taken = t.takeAdmission?.();
    const ticket = taken instanceof GateTicket ? taken : undefined;
    if (!ticket) {
      const place = this.admission.enter(t.remoteAddress);
      return typeof place === 'string' ? place : { place, since: Date.now() };
    }
    const place = ticket.claim();
    if (typeof place === 'string') return place;
    // Behind a trusted proxy the client's own address is known only now (the socket's close still
    // gives the place back when this refuses).
    const refused = place.locate(t.remoteAddress);
    if (refused) return refused;
    ticket.handOver();
    return { place, since: ticket.since };
  }

  /** Server shutdown: sockets still in a handshake or upgrade are closed now. */
  close(): void {
    for (const t of [...this.pending]) {
      t.leave();
      t.socket.destroy();
    }
  }
}
