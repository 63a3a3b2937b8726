// Named connection settings kept in this browser's localStorage. Passwords are kept only when the
// user asks, because localStorage is readable by any script on this origin.

export interface WillSettings {
  enabled: boolean;
  topic: string;
  payload: string;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** MQTT 5 Will Delay Interval, seconds. */
  delay: number;
}

export interface Profile {
  name: string;
  url: string;
  clientId: string;
  username: string;
  password: string;
  rememberPassword: boolean;
  /** 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
  protocolVersion: 4 | 5;
  keepalive: number;
  /** Clean Session (3.1.1) / Clean Start (5.0). */
  clean: boolean;
  /** MQTT 5 Session Expiry Interval, seconds. */
  sessionExpiry: number;
  autoReconnect: boolean;
  will: WillSettings;
}

const KEY = 'starling.console.profiles.v1';

let webSocketPath = '/mqtt';

/** Set from the broker's /console.json: the MQTT endpoint's path on this listener. */
export function setWebSocketPath(path: string): void {
  if (/^\/[\x21-\x7e]*$/.test(path)) webSocketPath = path;
}

/** The WebSocket URL of the listener that served this page: same host, its MQTT path. */
export function defaultUrl(loc: Location = location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host || 'localhost:8083'}${webSocketPath}`;
}

export function randomClientId(): string {
  const bytes = new Uint8Array(4);
  crypto.getRandomValues(bytes);
  return 'starling-console-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function defaultProfile(): Profile {
  return {
    name: 'This broker',
    url: defaultUrl(),
    clientId: randomClientId(),
    username: '',
    password: '',
    rememberPassword: false,
    protocolVersion: 5,
    keepalive: 60,
    clean: true,
    sessionExpiry: 0,
    autoReconnect: false,
    will: { enabled: false, topic: '', payload: '', qos: 0, retain: false, delay: 0 },
  };
}

export function loadProfiles(): Profile[] {
  try {
    const raw = localStorage.getItem(KEY);
    const list: unknown = raw ? JSON.parse(raw) : [];
    if (!Array.isArray(list)) return [];
    const base = defaultProfile();
    return list
      .filter((p): p is Partial<Profile> => typeof p === 'object' && p !== null && typeof (p as Profile).name === 'string')
      .map((p) => ({ ...base, ...p, will: { ...base.will, ...(p.will ?? {}) } }));
  } catch {
    return [];
  }
}

/** Saves (replacing any profile with the same name); returns the new list. */
export function saveProfile(profile: Profile): Profile[] {
  const stored = { ...profile, password: profile.rememberPassword ? profile.password : '' };
  const list = loadProfiles().filter((p) => p.name !== profile.name);
  list.push(stored);
  list.sort((a, b) => a.name.localeCompare(b.name));
  localStorage.setItem(KEY, JSON.stringify(list));
  return list;
}

export function deleteProfile(name: string): Profile[] {
  const list = loadProfiles().filter((p) => p.name !== name);
  localStorage.setItem(KEY, JSON.stringify(list));
  return list;
}
