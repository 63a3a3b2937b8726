// Small HTTP helpers shared by the observation endpoints. Responses are complete in one write;
// request bodies are read with a hard size limit so a client cannot make the broker buffer much.
import type { IncomingMessage, ServerResponse } from 'node:http';

export type Req = IncomingMessage;
export type Res = ServerResponse;

/** Headers every observation response carries. */
const BASE_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
} as const;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    /** More fields for the JSON answer (e.g. the `rule` a request broke). */
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export function send(
  req: Req,
  res: Res,
  status: number,
  body: string | Buffer,
  headers: Record<string, string | number>,
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...BASE_HEADERS, 'Content-Length': buf.length, ...headers });
  res.end(req.method === 'HEAD' ? undefined : buf);
}

export function sendText(req: Req, res: Res, status: number, text: string, headers: Record<string, string> = {}): void {
  send(req, res, status, text, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
}

export function sendJson(req: Req, res: Res, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(req, res, status, JSON.stringify(value), {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    ...headers,
  });
}

export function sendError(req: Req, res: Res, err: unknown): void {
  if (err instanceof HttpError) return sendJson(req, res, err.status, { error: err.message, ...err.detail }, err.headers);
  sendJson(req, res, 500, { error: 'internal error' });
}

/** Reads a JSON request body of at most `limit` bytes. */
export function readJson(req: Req, limit: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    return Promise.reject(new HttpError(415, 'request body must be application/json'));
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) {
    req.resume();
    return Promise.reject(new HttpError(413, `request body larger than ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        req.resume();
        reject(new HttpError(413, `request body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
      failed = true;
    });
    req.on('end', () => {
      if (failed) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new HttpError(400, 'request body is not valid JSON'));
      }
    });
  });
}

/** Splits a request target into its raw (still percent-encoded) path and its query. */
export function splitTarget(url: string | undefined): { path: string; query: URLSearchParams } {
  const target = url ?? '/';
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  return { path, query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)) };
}

/** A GET/HEAD-only resource: answers 405 with Allow for other methods; true when it may proceed. */
export function readOnly(req: Req, res: Res): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  sendText(req, res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
  return false;
}
