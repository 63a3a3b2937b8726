// The client side of SCRAM-SHA-256 (RFC 5802), written from the RFC for tests: it must agree with
// the server implementation without sharing its code.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

export interface ClientFirst {
  nonce: string;
  bare: string;
  message: Buffer;
}

export function clientFirst(user: string): ClientFirst {
  const nonce = randomBytes(18).toString('base64');
  const bare = `n=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${nonce}`;
  return { nonce, bare, message: Buffer.from(`n,,${bare}`) };
}

export interface ClientFinalState {
  message: Buffer;
  expectedServerSignature: string;
}

export function clientFinal(first: ClientFirst, password: string, serverFirst: Buffer): ClientFinalState {
  const sf = serverFirst.toString();
  const attrs = Object.fromEntries(sf.split(',').map((kv) => [kv[0], kv.slice(2)]));
  const salted = pbkdf2Sync(password, Buffer.from(attrs.s, 'base64'), Number(attrs.i), 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const withoutProof = `c=biws,r=${attrs.r}`;
  const authMessage = `${first.bare},${sf},${withoutProof}`;
  const signature = createHmac('sha256', storedKey).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]));
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  const expectedServerSignature = createHmac('sha256', serverKey).update(authMessage).digest('base64');
  return { message: Buffer.from(`${withoutProof},p=${proof.toString('base64')}`), expectedServerSignature };
}

export function verifyServerFinal(state: ClientFinalState, serverFinal: Buffer | undefined): boolean {
  return serverFinal?.toString() === `v=${state.expectedServerSignature}`;
}
