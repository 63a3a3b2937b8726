// Serving the built console (web/dist) and a few single files. The folder is listed once at start
// into a table of URL path → file; a request is answered only from that table, so no request path
// is ever joined onto the file system and traversal has nothing to reach. Contents are read and
// gzipped once, asynchronously, on first request, then served from memory: the console is small.
import { createHash } from 'node:crypto';
import { readdirSync, existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { send, sendText, type Req, type Res } from './http-util.js';

const gzipAsync = promisify(gzip);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.map', '.svg', '.webmanifest', '.txt']);

/** The console page may talk to its own origin and to any MQTT-over-WebSocket broker, nothing else. */
const HTML_HEADERS = {
  'Content-Security-Policy':
    // MQTT.js runs its keepalive timers in a Worker made from a blob: URL (timers in background tabs).
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; " +
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
};

/** Vite puts content-hashed files under assets/: their URL changes whenever their bytes do. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

interface Loaded {
  body: Buffer;
  gzipped?: Buffer;
  etag: string;
}

interface Entry {
  file: string;
  ext: string;
  cacheControl: string;
  loaded?: Promise<Loaded>;
}

export interface ScanLimits {
  maxFiles?: number;
  maxDepth?: number;
}

export class StaticFiles {
  private readonly entries = new Map<string, Entry>();

  get size(): number {
    return this.entries.size;
  }

  has(urlPath: string): boolean {
    return this.entries.has(urlPath);
  }

  /** Adds one file at a URL path (e.g. the MQTT.js bundle at /mqtt.min.js). */
  addFile(urlPath: string, file: string, cacheControl = REVALIDATE): void {
    this.entries.set(urlPath, { file, ext: extname(file).toLowerCase(), cacheControl });
  }

  /**
   * Adds every regular file under `dir` (symbolic links and dot-files skipped) at its relative
   * path; `index.html` is also served at `/`. A missing folder adds nothing.
   */
  addFolder(dir: string, limits: ScanLimits = {}): void {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) return;
    const maxFiles = limits.maxFiles ?? 5000;
    const maxDepth = limits.maxDepth ?? 8;
    const walk = (abs: string, url: string, depth: number): void => {
      for (const d of readdirSync(abs, { withFileTypes: true })) {
        if (d.name.startsWith('.') || this.entries.size >= maxFiles) continue;
        const childAbs = join(abs, d.name);
        const childUrl = `${url}/${d.name}`;
        if (d.isDirectory() && depth < maxDepth) walk(childAbs, childUrl, depth + 1);
        else if (d.isFile()) this.addFile(childUrl, childAbs, childUrl.startsWith('/assets/') ? IMMUTABLE : REVALIDATE);
      }
    };
    walk(dir, '', 0);
    const index = this.entries.get('/index.html');
    if (index) this.entries.set('/', index);
  }

  /** Answers GET/HEAD for a known path; false when the path is not in the table. */
  serve(req: Req, res: Res, urlPath: string): boolean {
    const entry = this.entries.get(urlPath);
    if (!entry) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(req, res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
      return true;
    }
    (entry.loaded ??= load(entry)).then(
      (l) => respond(req, res, entry, l),
      () => {
        // Gone or unreadable (e.g. a rebuild replaced it): forget it so a later request retries.
        entry.loaded = undefined;
        sendText(req, res, 404, 'not found\n');
      },
    );
    return true;
  }
}

async function load(entry: Entry): Promise<Loaded> {
  const body = await readFile(entry.file);
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
  const loaded: Loaded = { body, etag };
  if (COMPRESSIBLE.has(entry.ext) && body.length > 1024) loaded.gzipped = await gzipAsync(body);
  return loaded;
}

function acceptsGzip(req: Req): boolean {
  const header = String(req.headers['accept-encoding'] ?? '');
  return /(?:^|,)\s*gzip\s*(?:;\s*q=(?:1(?:\.0*)?|0?\.\d*[1-9]\d*))?\s*(?:,|$)/i.test(header);
}

function respond(req: Req, res: Res, entry: Entry, l: Loaded): void {
  const headers: Record<string, string | number> = {
    'Content-Type': TYPES[entry.ext] ?? 'application/octet-stream',
    'Cache-Control': entry.cacheControl,
    ETag: l.etag,
    ...(entry.ext === '.html' ? HTML_HEADERS : {}),
  };
  if (l.gzipped) headers.Vary = 'Accept-Encoding';
  const inm = req.headers['if-none-match'];
  if (inm && inm.split(',').some((t) => t.trim() === l.etag || t.trim() === `W/${l.etag}`)) {
    res.writeHead(304, { ETag: l.etag, 'Cache-Control': entry.cacheControl, ...(l.gzipped ? { Vary: 'Accept-Encoding' } : {}) });
    res.end();
    return;
  }
  if (l.gzipped && acceptsGzip(req)) {
    send(req, res, 200, l.gzipped, { ...headers, 'Content-Encoding': 'gzip' });
    return;
  }
  send(req, res, 200, l.body, headers);
}
