// Plain HTTP on the WebSocket listeners: the console, the MQTT.js browser bundle, /metrics,
// /healthz, /readyz and the admin API. The listener gives this handler first go at each plain
// request; it answers what it owns and returns false for the rest (WebSocket upgrades never come
// here). Nothing here blocks the event loop: files are read once, asynchronously, then kept.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { createAdminApi, API_PREFIX, type AdminPeers } from './admin-api.js';
import { readOnly, sendError, sendJson, sendText, splitTarget, HttpError, type Req, type Res } from './http-util.js';
import type { Metrics } from './metrics.js';
import type { AdminSource, AdminUserCheck, LogView } from './ports.js';
import type { ListenerInfo } from '../transport/transport.js';
import { clientUrl } from '../transport/kinds.js';
import { defaultConsoleDir } from './package-info.js';
import { StaticFiles } from './static-files.js';
import type { PacketTrace } from './trace.js';

export type HttpHandler = (req: Req, res: Res) => boolean;

export interface HttpDeps {
  /** The built console; default `web/dist` of this package; null serves no console. */
  consoleDir?: string | null;
  /** MQTT.js's browser bundle, served at /mqtt.min.js; default from the installed `mqtt` package; null: none. */
  mqttBundle?: string | null;
  /**
   * WebSocket path of the MQTT endpoint (default /mqtt), told to the console at /console.json so
   * its default broker URL is this listener's. One handler shared by listeners with different
   * paths can tell them apart by the request (e.g. `req.socket.localPort`).
   */
  webSocketPath?: string | ((req: Req) => string);
  /** Serves GET /metrics when given. */
  metrics?: Pick<Metrics, 'render' | 'contentType'>;
  /** /readyz answers 200 while this returns true (set once the listeners are open), 503 otherwise. */
  ready?: () => boolean;
  /** The admin API, on when `token` is a non-empty string or admin `users` are given. */
  admin?: { source: AdminSource; token?: string; users?: AdminUserCheck; maxBodyBytes?: number; version?: string; peers?: AdminPeers; trace?: PacketTrace };
  /**
   * The listeners, for the dashboard's public listener list at /console.json. Client URLs only,
   * which every client is told anyway; who is connected stays behind the admin API.
   */
  listeners?: () => readonly ListenerInfo[];
  log?: LogView;
}

/** Path of MQTT.js's minified browser bundle, or undefined when the package is not installed. */
export function defaultMqttBundle(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('mqtt/package.json');
    const file = join(dirname(pkg), 'dist', 'mqtt.min.js');
    return existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

/** Decodes a request path for the file table; throws 400 for anything a file path could abuse. */
function cleanPath(raw: string): string {
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'malformed percent-encoding');
  }
  if (!path.startsWith('/') || path.includes('\0') || path.includes('\\') || path.split('/').some((s) => s === '..' || s === '.')) {
    throw new HttpError(400, 'bad path');
  }
  return path;
}

export function createHttpHandler(deps: HttpDeps): HttpHandler {
  const files = new StaticFiles();
  const consoleDir = deps.consoleDir === undefined ? defaultConsoleDir() : deps.consoleDir;
  if (consoleDir) files.addFolder(consoleDir);
  const consoleBuilt = files.has('/');
  const bundle = deps.mqttBundle === undefined ? defaultMqttBundle() : deps.mqttBundle;
  if (bundle) files.addFile('/mqtt.min.js', bundle);
  const ready = deps.ready ?? (() => true);
  const adminToken = deps.admin?.token;
  const adminUsers = deps.admin?.users;
  const admin =
    deps.admin && (adminToken || adminUsers)
      ? createAdminApi(deps.admin.source, {
          ...(adminToken ? { token: adminToken } : {}),
          ...(adminUsers ? { users: adminUsers } : {}),
          ...(deps.admin.maxBodyBytes !== undefined ? { maxBodyBytes: deps.admin.maxBodyBytes } : {}),
          ...(deps.admin.version !== undefined ? { version: deps.admin.version } : {}),
          ...(deps.admin.peers ? { peers: deps.admin.peers } : {}),
          ...(deps.admin.trace ? { trace: deps.admin.trace } : {}),
          ...(deps.log ? { log: deps.log } : {}),
        })
      : undefined;
  const metrics = deps.metrics;
  const webSocketPath = deps.webSocketPath ?? '/mqtt';

  const handle = (req: Req, res: Res): boolean => {
    const { path, query } = splitTarget(req.url);
    switch (path) {
      case '/healthz':
        if (readOnly(req, res)) sendText(req, res, 200, 'ok\n');
        return true;
      case '/readyz':
        if (readOnly(req, res)) {
          const ok = ready();
          sendText(req, res, ok ? 200 : 503, ok ? 'ready\n' : 'not ready\n');
        }
        return true;
      case '/console.json':
        if (!consoleBuilt) return false;
        if (readOnly(req, res)) {
          const path = typeof webSocketPath === 'function' ? webSocketPath(req) : webSocketPath;
          const listeners = (deps.listeners?.() ?? []).map((l) => ({ url: clientUrl(l, path) }));
          sendJson(req, res, 200, { webSocketPath: path, adminApi: admin !== undefined, listeners });
        }
        return true;
      case '/metrics':
        if (!metrics) return false;
        if (!readOnly(req, res)) return true;
        metrics.render().then(
          (text) => sendText(req, res, 200, text, { 'Content-Type': metrics.contentType }),
          (err: unknown) => {
            deps.log?.error({ err }, 'metrics collection failed');
            sendText(req, res, 500, 'metrics collection failed\n');
          },
        );
        return true;
    }
    if (path === API_PREFIX || path.startsWith(API_PREFIX + '/')) {
      if (admin) admin(req, res, path, query);
      else sendJson(req, res, 404, { error: 'the admin API is off: configure httpAdminToken or httpAdminUsers to enable it' });
      return true;
    }
    const clean = cleanPath(path);
    if (files.serve(req, res, clean)) return true;
    if (clean === '/' && !consoleBuilt && consoleDir !== null) {
      if (readOnly(req, res)) sendText(req, res, 503, 'The Starling console is not built: run `npm run build` (web/dist is missing).\n');
      return true;
    }
    return false;
  };

  return (req, res) => {
    try {
      return handle(req, res);
    } catch (err) {
      if (!(err instanceof HttpError)) deps.log?.error({ err, url: req.url }, 'HTTP request failed');
      sendError(req, res, err);
      return true;
    }
  };
}
