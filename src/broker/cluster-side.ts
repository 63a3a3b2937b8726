// What another node (a cluster member, or another worker process) may ask of this broker: route a
// message it received, take a client id over, move a session away or here, forget a stale one.
// The link reaches the broker only through these (ClusterSide in cluster-link.ts).
import type { MaybePromise } from '../protocol/maybe-promise.js';
import type { StoredMessage } from '../store/ports.js';
import type { ClusterSide, RemoteRoute, SessionTransfer } from './cluster-link.js';
import { fullSessionOps } from './persistence.js';
import type { Pipeline } from './pipeline.js';
import { exportSession, importSession as rebuildSession } from './session-transfer.js';
import type { Sessions } from './sessions.js';
import type { StoreWrites } from './writes.js';

export class BrokerClusterSide implements ClusterSide {
  constructor(
    private readonly sessions: Sessions,
    private readonly pipeline: Pipeline,
    private readonly writes: StoreWrites,
    private readonly now: () => number,
  ) {}

  routeRemote(message: StoredMessage, to?: RemoteRoute): MaybePromise<number> {
    return this.pipeline.routeRemote(message, to);
  }

  takeOver(clientId: string): void {
    this.sessions.client(clientId)?.takenOver(true);
  }

  async releaseSession(clientId: string, transfer: boolean): Promise<SessionTransfer | undefined> {
    // Closed as a local takeover would be: a will without delay is published, a delayed one stays
    // with the session, whose resumption elsewhere cancels it [MQTT-3.1.4-3].
    this.sessions.client(clientId)?.takenOver();
    const session = this.sessions.get(clientId);
    if (!session) return undefined;
    session.outlet = undefined;
    // Clean Start elsewhere ends the session here, and a will still waiting for its delay with it.
    // A session that ends with its connection does not move: it ended here [MQTT-3.1.2-6].
    const moved = transfer && session.persistent ? exportSession(session) : undefined;
    if (!moved && session.will) this.sessions.routeWill(session);
    if (!moved) this.sessions.discarded(session);
    this.sessions.end(session);
    await this.writes.persist([{ op: 'session.delete', clientId }]);
    return moved;
  }

  forgetSession(clientId: string): void {
    const session = this.sessions.get(clientId);
    if (!session || session.online) return;
    session.will = undefined;
    this.sessions.endAndForget(session);
  }

  importSession(transfer: SessionTransfer): boolean {
    const local = this.sessions.get(transfer.state.session.clientId);
    if (local?.online) return false;
    if (local) this.sessions.end(local, true);
    rebuildSession(transfer, this.now(), (s) => {
      this.sessions.adopt(s);
      if (s.persistent) this.writes.persistLater(fullSessionOps(s));
    });
    return true;
  }
}
