// The broker behind the browser tests: a real Starling server whose ws:// listener also serves
// the console, /metrics and the admin API.
import { startTestServer } from '../helpers/server.js';

export interface ConsoleBroker {
  /** http://127.0.0.1:PORT/ — the page a person opens. */
  httpUrl: string;
  /** ws://127.0.0.1:PORT/<path> — what the console's default URL must be. */
  wsUrl: string;
  adminToken: string;
  protocolVersion: 4 | 5;
  close(): Promise<void>;
}

export async function startConsoleBroker(opts: { sysIntervalSec: number; adminToken: string; webSocketPath: string }): Promise<ConsoleBroker> {
  const t = await startTestServer({
    mqttListeners: 'ws://127.0.0.1:0',
    sysIntervalSec: String(opts.sysIntervalSec),
    httpAdminToken: opts.adminToken,
    webSocketPath: opts.webSocketPath,
  });
  const port = t.port('ws');
  return {
    httpUrl: `http://127.0.0.1:${port}/`,
    wsUrl: `ws://127.0.0.1:${port}${opts.webSocketPath}`,
    adminToken: opts.adminToken,
    protocolVersion: 5,
    close: () => t.close(),
  };
}
