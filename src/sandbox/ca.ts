import 'reflect-metadata';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// The sandbox plays Alipay's certificate authority in certificate mode: a root bundle with an RSA
// and an ECDSA root (the real bundle also holds non-RSA roots, which alipay_root_cert_sn leaves
// out), an RSA intermediate "Class 2" CA under the RSA root, and leaf certificates it issues for
// the app's public key and for its own "Alipay" keys. Only the sandbox generates certificates; the
// shop reads them with node:crypto.

x509.cryptoProvider.set(webcrypto as never);

const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
const ECDSA = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const YEAR_MS = 365 * 24 * 60 * 60 * 1000;

/** What a CA needs to issue more certificates later (persisted as PEM). */
export interface CaMaterial {
  rsaRootPem: string;
  ecRootPem: string;
  intermediatePem: string;
  intermediateKeyPem: string;
}

export interface IssueOptions {
  commonName: string;
  /** Organisational unit of the subject (e.g. the app_id). */
  unit?: string;
  publicKey: KeyObject;
  notBefore?: Date;
  notAfter?: Date;
}

export interface SandboxCa {
  material: CaMaterial;
  /** alipayRootCert.crt: the RSA root, then the ECDSA root. */
  rootBundlePem: string;
  /** A leaf certificate for the key, followed by the intermediate (like Alipay's .crt files). */
  issue(opts: IssueOptions): Promise<string>;
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 1) & 0x7f) | 0x10; // positive, no leading zero byte
  return bytes.toString('hex');
}

function caExtensions(pathLength: number, publicKey: x509.PublicKey | webcrypto.CryptoKey) {
  return Promise.all([
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    x509.SubjectKeyIdentifierExtension.create(publicKey),
  ]);
}

async function importSigningKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, { name: RSA.name, hash: RSA.hash }, false, ['sign']) as Promise<webcrypto.CryptoKey>;
}

function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  return webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey).then((der) =>
    createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString(),
  );
}

function nameOf(commonName: string, unit: string, org: string): string {
  return `C=CN, O=${org}, OU=${unit}, CN=${commonName}`;
}

/** A new CA hierarchy. `label` distinguishes CAs (tests make a rogue one with another label). */
export async function generateSandboxCa(opts: { label?: string; now?: Date } = {}): Promise<SandboxCa> {
  const org = opts.label ?? 'Alipay Shop Sandbox';
  const now = opts.now ?? new Date();
  const notBefore = new Date(now.getTime() - 24 * 60 * 60 * 1000);
  const notAfter = new Date(now.getTime() + 20 * YEAR_MS);
  const rsaKeys = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const rsaRoot = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: nameOf(`${org} Certification Authority R1`, 'Certification Authority', org),
    notBefore,
    notAfter,
    signingAlgorithm: RSA,
    keys: rsaKeys,
    extensions: await caExtensions(2, rsaKeys.publicKey),
  });
  const ecKeys = (await webcrypto.subtle.generateKey(ECDSA, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ecRoot = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: nameOf(`${org} Certification Authority E1`, 'Certification Authority', org),
    notBefore,
    notAfter,
    signingAlgorithm: ECDSA,
    keys: ecKeys,
    extensions: await caExtensions(2, ecKeys.publicKey),
  });
  const intermediateKeys = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: nameOf(`${org} Certification Authority Class 2 R1`, 'Certification Authority', org),
    issuer: rsaRoot.subject,
    notBefore,
    notAfter: new Date(now.getTime() + 10 * YEAR_MS),
    signingAlgorithm: RSA,
    publicKey: intermediateKeys.publicKey,
    signingKey: rsaKeys.privateKey,
    extensions: await caExtensions(0, intermediateKeys.publicKey),
  });
  return loadSandboxCa({
    rsaRootPem: rsaRoot.toString('pem'),
    ecRootPem: ecRoot.toString('pem'),
    intermediatePem: intermediate.toString('pem'),
    intermediateKeyPem: await pkcs8Pem(intermediateKeys.privateKey),
  });
}

/** A CA from persisted material. */
export async function loadSandboxCa(material: CaMaterial): Promise<SandboxCa> {
  const intermediate = new x509.X509Certificate(material.intermediatePem);
  const signingKey = await importSigningKey(material.intermediateKeyPem);
  const pem = (text: string) => `${text.trim()}\n`;
  return {
    material,
    rootBundlePem: pem(material.rsaRootPem) + pem(material.ecRootPem),
    async issue(opts) {
      const now = new Date();
      const spki = (opts.publicKey.type === 'private' ? createPublicKey(opts.publicKey) : opts.publicKey).export({ type: 'spki', format: 'der' });
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: serialNumber(),
        subject: `C=CN, O=${opts.unit ? 'Sandbox App' : 'Alipay Shop Sandbox'}, OU=${opts.unit ?? 'Alipay'}, CN=${opts.commonName}`,
        issuer: intermediate.subject,
        notBefore: opts.notBefore ?? new Date(now.getTime() - 60 * 60 * 1000),
        notAfter: opts.notAfter ?? new Date(now.getTime() + 5 * YEAR_MS),
        signingAlgorithm: RSA,
        publicKey: new Uint8Array(spki),
        signingKey,
        extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation, true)],
      });
      return pem(leaf.toString('pem')) + pem(material.intermediatePem);
    },
  };
}
