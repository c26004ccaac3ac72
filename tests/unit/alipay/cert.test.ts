import 'reflect-metadata';
import { X509Certificate, generateKeyPairSync, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { AlipaySdk } from 'alipay-sdk';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AlipayCertError,
  certificateSn,
  checkCertificateMatchesKey,
  parseCertificates,
  privateKeyToPem,
  rootCertSn,
  signatureAlgorithmOid,
  trustAlipayCertificate,
  verifyCertificateChain,
} from '../../../src/alipay/index.js';
import { generateSandboxCa, type SandboxCa } from '../../../src/sandbox/ca.js';

x509.cryptoProvider.set(webcrypto as never);

const app = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
let ca: SandboxCa;
let rogue: SandboxCa;
let appCertPem: string;

/** The official SDK's SNs for an app certificate, an Alipay certificate and a root bundle. */
function sdkSns(appCert: string, alipayCert: string, rootBundle: string) {
  const sdk = new AlipaySdk({
    appId: '2021000122600000',
    privateKey: privateKeyToPem(app.privateKey),
    appCertContent: appCert,
    alipayPublicCertContent: alipayCert,
    alipayRootCertContent: rootBundle,
  });
  const config = sdk.config as unknown as { appCertSn: string; alipayCertSn: string; alipayRootCertSn: string };
  return { app: config.appCertSn, alipay: config.alipayCertSn, root: config.alipayRootCertSn };
}

/** A self-signed certificate with an unusual DN and serial, to test the DN and serial rules. */
async function oddCertificate(name: string, serialHex: string, algorithm: 'rsa' | 'ec'): Promise<string> {
  const alg =
    algorithm === 'rsa'
      ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 }
      : { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: serialHex, name, keys, signingAlgorithm: alg });
  return cert.toString('pem');
}

beforeAll(async () => {
  [ca, rogue] = await Promise.all([generateSandboxCa(), generateSandboxCa({ label: 'Rogue CA' })]);
  appCertPem = await ca.issue({ commonName: '2021000122600000', unit: '2021000122600000', publicKey: app.publicKey });
}, 60_000);

describe('certificate SNs, checked against the official alipay-sdk', () => {
  it('app_cert_sn, alipay cert SN and alipay_root_cert_sn of a CA hierarchy with an RSA and an ECDSA root', async () => {
    const alipayPem = await ca.issue({ commonName: 'Alipay', publicKey: other.publicKey });
    const sdk = sdkSns(appCertPem, alipayPem, ca.rootBundlePem);
    expect(certificateSn(parseCertificates(appCertPem, 'app')[0]!)).toBe(sdk.app);
    expect(certificateSn(parseCertificates(alipayPem, 'alipay')[0]!)).toBe(sdk.alipay);
    const root = rootCertSn(parseCertificates(ca.rootBundlePem, 'root'));
    expect(root.sn).toBe(sdk.root);
    expect(root.counted).toHaveLength(1);
    expect(root.skipped.map((s) => s.signatureOid)).toEqual(['1.2.840.10045.4.3.2']);
  });

  it.each([
    ['a multi-valued RDN, escaped DN characters and a Chinese organisation', 'CN=Ant\\, Financial + Co,O=蚂蚁金服（杭州）网络技术有限公司,OU=Cert\\"Auth\\",L=Hang<zhou>,C=CN', '7f' + 'ab'.repeat(19)],
    ['escaped characters in the usual DN order', 'C=CN,O=蚂蚁金服（杭州）网络技术有限公司,OU=Cert\\+Auth\\;x,CN=Ant\\, Financial', '7f01'],
    ['a serial with leading zero nibble', 'CN=Ant Financial Certification Authority Class 2 R1,OU=Certification Authority,O=Ant Financial,C=CN', '0102030405'],
    ['a one-byte serial', 'CN=x', '05'],
  ])('the SN of a certificate with %s', async (_what, name, serial) => {
    const pem = await oddCertificate(name, serial, 'rsa');
    expect(certificateSn(parseCertificates(pem, 'odd')[0]!)).toBe(sdkSns(pem, pem, pem).app);
  });

  it('a bundle mixing RSA, ECDSA and RSA roots counts only the RSA ones, in file order, joined with _', async () => {
    const rsa1 = await oddCertificate('CN=Root One,O=Test,C=CN', '11', 'rsa');
    const ec = await oddCertificate('CN=Root EC,O=Test,C=CN', '12', 'ec');
    const rsa2 = await oddCertificate('CN=Root Two,O=Test,C=CN', '13', 'rsa');
    const bundle = [rsa1, ec, rsa2].join('\n');
    const ours = rootCertSn(parseCertificates(bundle, 'bundle'));
    expect(ours.sn).toBe(sdkSns(appCertPem, appCertPem, bundle).root);
    expect(ours.sn.split('_')).toHaveLength(2);
    expect(ours.skipped).toHaveLength(1);
    expect(signatureAlgorithmOid(new X509Certificate(ec))).toBe('1.2.840.10045.4.3.3');
    expect(signatureAlgorithmOid(new X509Certificate(rsa1))).toBe('1.2.840.113549.1.1.11');
  });

  it("Alipay's production root bundle (SM2, RSA, ECDSA and RSA roots) gives the published root SN", () => {
    // Public certificates, copied from yansongda/pay tests/Cert/alipayRootCert.crt.
    const bundle = readFileSync(path.resolve('tests/support/certs/alipayRootCert.crt'), 'utf8');
    const ours = rootCertSn(parseCertificates(bundle, 'alipayRootCert.crt'));
    expect(ours.sn).toBe('687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6');
    expect(ours.sn).toBe(sdkSns(appCertPem, appCertPem, bundle).root);
    expect(ours.skipped.map((s) => s.signatureOid)).toEqual(['1.2.156.10197.1.501', '1.2.840.10045.4.3.3']);
  });

  it('reads one-line PEM, CRLF PEM and .env-escaped PEM to the same certificates', () => {
    const expected = rootCertSn(parseCertificates(ca.rootBundlePem, 'bundle')).sn;
    const oneLine = ca.rootBundlePem.replace(/\n/g, '');
    const spaced = ca.rootBundlePem.replace(/\n/g, ' ');
    const crlf = ca.rootBundlePem.replace(/\n/g, '\r\n');
    const escaped = ca.rootBundlePem.replace(/\n/g, '\\n');
    for (const text of [oneLine, spaced, crlf, escaped]) {
      expect(rootCertSn(parseCertificates(text, 'bundle')).sn).toBe(expected);
    }
  });

  it('says what is wrong with a file that holds no certificate or a broken one', () => {
    expect(() => parseCertificates('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', 'ALIPAY_CERT_FILE')).toThrow(/ALIPAY_CERT_FILE: no PEM certificate found/);
    expect(() => parseCertificates('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', 'ALIPAY_CERT_FILE')).toThrow(/certificate #1 is not a valid X.509 certificate/);
  });
});

describe('trusting certificates', () => {
  it('accepts a certificate issued under the root bundle, with its intermediate', async () => {
    const pem = await ca.issue({ commonName: 'Alipay', publicKey: other.publicKey });
    const cert = trustAlipayCertificate(pem, parseCertificates(ca.rootBundlePem, 'root'), new Date(), 'alipay');
    expect(cert.sn).toBe(certificateSn(parseCertificates(pem, 'x')[0]!));
    expect(cert.publicKey.export({ type: 'spki', format: 'der' })).toEqual(other.publicKey.export({ type: 'spki', format: 'der' }));
  });

  it('refuses a certificate from another CA, even one with the same names', async () => {
    const pem = await rogue.issue({ commonName: 'Alipay', publicKey: other.publicKey });
    expect(() => trustAlipayCertificate(pem, parseCertificates(ca.rootBundlePem, 'root'), new Date(), 'alipay')).toThrow(/does not chain to the Alipay root certificate bundle/);
  });

  it('refuses a leaf without its intermediate when the bundle holds only roots', async () => {
    const pem = await ca.issue({ commonName: 'Alipay', publicKey: other.publicKey });
    const leafOnly = parseCertificates(pem, 'x').slice(0, 1);
    expect(() => verifyCertificateChain(leafOnly, parseCertificates(ca.rootBundlePem, 'root'), new Date(), 'alipay')).toThrow(AlipayCertError);
  });

  it('refuses an expired certificate and one not valid yet', async () => {
    const roots = parseCertificates(ca.rootBundlePem, 'root');
    const expired = await ca.issue({ commonName: 'Old', publicKey: other.publicKey, notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    expect(() => trustAlipayCertificate(expired, roots, new Date(), 'alipay')).toThrow(/alipay expired on/);
    const future = await ca.issue({ commonName: 'New', publicKey: other.publicKey, notBefore: new Date(Date.now() + 86_400_000), notAfter: new Date(Date.now() + 10 * 86_400_000) });
    expect(() => trustAlipayCertificate(future, roots, new Date(), 'alipay')).toThrow(/not valid yet/);
  });

  it('matches the app certificate to the app private key', () => {
    const cert = parseCertificates(appCertPem, 'app')[0]!;
    expect(() => checkCertificateMatchesKey(cert, app.privateKey, 'app cert')).not.toThrow();
    expect(() => checkCertificateMatchesKey(cert, other.privateKey, 'app cert')).toThrow(/does not match the app private key/);
  });
});
