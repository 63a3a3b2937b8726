// GET /api/v1/trace?clientId=&filter=: a live packet trace as newline-delimited JSON, one row per
// packet, streamed until the reader goes away or the time limit passes. Rows the reader cannot
// take (its connection's buffer is over the limit) are dropped and counted; every batch is
// followed by a `drops` line when the counts changed, so the reader sees what it missed.
import { validateTopicFilter } from '../protocol/topic.js';
import { HttpError, type Req, type Res } from './http-util.js';
import type { LogView } from './ports.js';
import type { PacketTrace, TraceDrops, TraceWatch } from './trace.js';

/** Beyond this many bytes waiting in the response, the reader is behind: batches are dropped. */
const MAX_PENDING_BYTES = 1024 * 1024;
/** A trace ends after this long; the console starts a new one if the admin still watches. */
const MAX_TRACE_MS = 30 * 60_000;

/** What to watch, from the query; throws HttpError 400 when it is missing or invalid. */
export function traceWatch(query: URLSearchParams): TraceWatch {
  const clientId = query.get('clientId') ?? '';
  const filter = query.get('filter') ?? '';
  if (!clientId && !filter) throw new HttpError(400, 'a trace needs ?clientId= or ?filter=');
  if (clientId.length > 65_535) throw new HttpError(400, 'clientId is too long');
  if (filter) {
    try {
      validateTopicFilter(filter);
    } catch (err) {
      throw new HttpError(400, `filter: ${(err as Error).message}`);
    }
  }
  return { ...(clientId ? { clientId } : {}), ...(filter ? { filter } : {}) };
}

export function serveTrace(req: Req, res: Res, query: URLSearchParams, trace: PacketTrace, who: string, log?: LogView): void {
  const watch = traceWatch(query);
  let last = '';
  const sink = (rows: unknown[], drops: TraceDrops): boolean => {
    if (res.writableLength > MAX_PENDING_BYTES) return false;
    let text = '';
    // One batch never takes the response past the budget either: the rows beyond it are dropped.
    for (let i = 0; i < rows.length; i++) {
      if (text.length > MAX_PENDING_BYTES) {
        drops.slowReader += rows.length - i;
        break;
      }
      text += JSON.stringify(rows[i]) + '\n';
    }
    const counted = JSON.stringify({ type: 'drops', ...drops });
    if (counted !== last) text += counted + '\n';
    last = counted;
    res.write(text);
    return true;
  };
  let session: ReturnType<PacketTrace['watch']>;
  try {
    session = trace.watch(watch, sink);
  } catch (err) {
    throw new HttpError(429, (err as Error).message);
  }
  log?.info({ ...watch, admin: who, remote: req.socket.remoteAddress }, 'packet trace started by the admin API');
  res.writeHead(200, {
    'Content-Type': 'application/x-ndjson; charset=utf-8',
    'Cache-Control': 'no-store',
    // A proxy must pass rows on as they come.
    'X-Accel-Buffering': 'no',
  });
  res.write(JSON.stringify({ type: 'start', ...watch, limits: trace.limits }) + '\n');
  const end = (): void => {
    clearTimeout(limit);
    session.stop();
  };
  const limit = setTimeout(() => {
    end();
    res.end(JSON.stringify({ type: 'end', reason: 'time limit' }) + '\n');
  }, MAX_TRACE_MS);
  limit.unref();
  res.on('close', end);
}
