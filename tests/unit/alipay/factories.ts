import { generateKeyPairSync, type KeyObject } from 'node:crypto';

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function makeKeyPair(bits = 2048): KeyPair {
  return generateKeyPairSync('rsa', { modulusLength: bits });
}
