// `workers=N`: the broker processes of one machine act as one broker. The hub in the primary
// (ipc-hub.ts) routes between the links in the workers (ipc-link.ts) over Node's IPC channel, in the
// batched messages of ipc-wire.ts. What the server's worker pool needs.
export { IpcHub } from './ipc-hub.js';
export { IpcClusterLink, processChannel } from './ipc-link.js';
export { isBatch, isFrame, Outbox, PrimaryOutbox, type AdminAnswer, type AdminOp, type PrimaryMessage, type WorkerMessage } from './ipc-wire.js';
