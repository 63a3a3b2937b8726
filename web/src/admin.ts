// The broker's admin API (/api/v1 on the origin that served the console), with a bearer token the
// user types in. The token is kept in sessionStorage only if asked, and only for this tab.

export interface AdminClient {
  clientId: string;
  username?: string;
  address: string;
  remotePort?: number;
  protocol: string;
  transport: string;
  listener: string;
  connectedAt: string;
  inflight: number;
  queued: number;
  subscriptions: number;
}

export interface AdminListener {
  url: string;
  scheme: string;
  host: string;
  port: number;
  /** WebSocket listeners: the MQTT endpoint's path. */
  path?: string;
}

const TOKEN_KEY = 'starling.console.adminToken';

export function storedToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lives in the form only
  }
}

export class AdminApi {
  constructor(
    private readonly token: string,
    // Relative to the page, so a console behind a reverse proxy under a sub-path still finds it.
    private readonly base = new URL('api/v1/', location.href).href,
  ) {}

  private async call<T>(path: string, init: RequestInit = {}): Promise<T> {
    const res = await fetch(this.base + path, {
      ...init,
      headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json', ...(init.headers ?? {}) },
      cache: 'no-store',
    });
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const msg = (body as { error?: string } | undefined)?.error ?? `${res.status} ${res.statusText}`;
      throw new Error(res.status === 401 ? 'the admin token was refused' : msg);
    }
    return body as T;
  }

  clients(): Promise<{ total: number; clients: AdminClient[] }> {
    return this.call('clients');
  }
  listeners(): Promise<{ listeners: AdminListener[] }> {
    return this.call('listeners');
  }
  kick(clientId: string): Promise<{ kicked: boolean }> {
    return this.call(`clients/${encodeURIComponent(clientId)}/kick`, { method: 'POST' });
  }
}
