// SCRAM-SHA-256 (RFC 5802, RFC 7677) as an MQTT 5 enhanced authentication method: the password
// never crosses the wire and the server proves it knows the credentials too.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthConversation, AuthStep, EnhancedAuthenticator } from './enhanced-auth.js';
import { ReasonCode } from '../protocol/reason-codes.js';

export interface ScramCredentials {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

const hmac = (key: Buffer, text: string): Buffer => createHmac('sha256', key).update(text).digest();
const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

/** Derives what the server stores for a user; the password itself is not kept. */
export function scramCredentials(password: string, salt = randomBytes(16), iterations = 4096): ScramCredentials {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  return { salt, iterations, storedKey: sha256(clientKey), serverKey: hmac(salted, 'Server Key') };
}

/** Parses `a=1,b=2` SCRAM attributes. */
function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq === 1) out.set(part[0], part.slice(2));
  }
  return out;
}

/** SCRAM user names escape ',' and '=' as =2C and =3D. */
const unescapeName = (s: string): string => s.replace(/=2C/g, ',').replace(/=3D/g, '=');

const fail = (reason: string, reasonCode: number = ReasonCode.NotAuthorized): AuthStep => ({ kind: 'failure', reasonCode, reason });
/** Wrong user or password: 0x86, like a failed plain login. */
const badCredentials = (): AuthStep => fail('bad user name or password', ReasonCode.BadUserNameOrPassword);

/**
 * What a conversation keeps is bounded: a client in the middle of an exchange is held until
 * connectTimeoutSec, and thousands of them may be. RFC 5802 and RFC 7677 give no sizes, and what
 * clients send is small (a nonce of 18 to 32 random bytes in base64, a user name), so a message
 * (Authentication Data of up to 65,535 bytes) over MAX_MESSAGE bytes, a client nonce over MAX_NONCE
 * characters or a user name over MAX_USER characters is refused at once, as a malformed message is
 * [MQTT-4.12.0-4]. Before these bounds an exchange kept about four copies of what the client sent,
 * about 250 KiB for a 64 KiB client-first message, counted by no budget.
 */
export const SCRAM_MAX_MESSAGE = 2048;
export const SCRAM_MAX_NONCE = 256;
export const SCRAM_MAX_USER = 256;
/** A nonce is printable ASCII without ',' (RFC 5802, section 7). */
const NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;

/** The iteration count of credentials made by `starling passwd` (RFC 7677's minimum). */
const DEFAULT_ITERATIONS = 4096;

/**
 * Credentials for a user that does not exist, keyed on the server secret: the salt is stable and
 * has a real salt's length, the count is the usual one, so the server-first message looks like a
 * real user's; nobody without the secret can tell it from one. The keys make the final check run
 * the same steps as for a real user (and fail).
 */
export function decoyCredentials(secret: Buffer, user: string): ScramCredentials {
  const derive = (label: string): Buffer => createHmac('sha256', secret).update(`starling scram ${label}\0`).update(user).digest();
  return { salt: derive('salt').subarray(0, 16), iterations: DEFAULT_ITERATIONS, storedKey: derive('stored key'), serverKey: derive('server key') };
}

class ScramConversation implements AuthConversation {
  private stage: 'first' | 'final' | 'done' = 'first';
  /** The user name the client-first message claimed; set once it is parsed. */
  user?: string;
  private known = false;
  private nonce = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private creds?: ScramCredentials;

  constructor(
    private readonly lookup: (user: string) => ScramCredentials | undefined,
    private readonly secret: Buffer,
  ) {}

  step(data: Buffer | undefined): AuthStep {
    if (!data) return fail('SCRAM needs authentication data');
    if (data.length > SCRAM_MAX_MESSAGE) {
      this.stage = 'done';
      return fail(`SCRAM message over ${SCRAM_MAX_MESSAGE} bytes`);
    }
    const text = data.toString('utf8');
    if (this.stage === 'first') return this.first(text);
    if (this.stage === 'final') return this.final(text);
    return fail('SCRAM exchange already finished');
  }

  private first(text: string): AuthStep {
    // gs2 header: no channel binding ("n,,"); "y,," also acceptable (client supports it, we do not).
    const m = /^[ny],[^,]*,(.*)$/.exec(text);
    if (!m) return fail('malformed SCRAM client-first message');
    this.clientFirstBare = m[1];
    const a = attributes(this.clientFirstBare);
    const user = a.get('n');
    const cnonce = a.get('r');
    if (!user || !cnonce) return fail('SCRAM client-first lacks n= or r=');
    if (cnonce.length > SCRAM_MAX_NONCE || !NONCE.test(cnonce)) return fail(`SCRAM client nonce not printable or over ${SCRAM_MAX_NONCE} characters`);
    const name = unescapeName(user);
    if (name.length > SCRAM_MAX_USER) return fail(`SCRAM user name over ${SCRAM_MAX_USER} characters`);
    this.user = name;
    // Unknown users get a made-up challenge, and the same exchange up to the final verification,
    // so no step tells whether the name exists.
    const real = this.lookup(this.user);
    this.known = real !== undefined;
    const creds = real ?? decoyCredentials(this.secret, this.user);
    this.creds = creds;
    this.nonce = cnonce + randomBytes(18).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${creds.salt.toString('base64')},i=${creds.iterations}`;
    this.stage = 'final';
    return { kind: 'continue', data: Buffer.from(this.serverFirst) };
  }

  private final(text: string): AuthStep {
    this.stage = 'done';
    const proofAt = text.lastIndexOf(',p=');
    if (proofAt < 0) return fail('SCRAM client-final lacks p=');
    const withoutProof = text.slice(0, proofAt);
    const a = attributes(text);
    if (a.get('r') !== this.nonce) return fail('SCRAM nonce mismatch');
    const creds = this.creds;
    if (!creds) return badCredentials();
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const proof = Buffer.from(a.get('p') ?? '', 'base64');
    const signature = hmac(creds.storedKey, authMessage);
    if (proof.length !== signature.length) return badCredentials();
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i] ^ signature[i];
    // `known` last: a decoy is refused after the same work as a wrong password.
    if (!timingSafeEqual(sha256(clientKey), creds.storedKey) || !this.known) return badCredentials();
    const serverSignature = hmac(creds.serverKey, authMessage).toString('base64');
    return { kind: 'success', data: Buffer.from(`v=${serverSignature}`), username: this.user! };
  }
}

export class ScramSha256Authenticator implements EnhancedAuthenticator {
  readonly method = 'SCRAM-SHA-256';
  /**
   * @param secret keys the decoy credentials of unknown users (src/auth/server-secret.ts); without
   *   one, a random secret for this instance.
   */
  constructor(
    private readonly lookup: (user: string) => ScramCredentials | undefined,
    private readonly secret: Buffer = randomBytes(32),
  ) {}
  start(): AuthConversation {
    return new ScramConversation(this.lookup, this.secret);
  }
}
