import 'reflect-metadata';
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { publicKeyToBase64 } from '../../src/alipay/index.js';
import { ConfigError, loadConfig, type Env } from '../../src/config.js';
import { generateSandboxCa, type SandboxCa } from '../../src/sandbox/ca.js';
import { alipaySettingsFromConfig } from '../../src/wiring.js';

x509.cryptoProvider.set(webcrypto as never);

const DAY = 86_400_000;
const app = generateKeyPairSync('rsa', { modulusLength: 2048 });
const alipay = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: typeof app.privateKey) => k.export({ type: 'pkcs8', format: 'pem' }).toString();

let dir: string;
let ca: SandboxCa;
let rogue: SandboxCa;
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
let good: { ALIPAY_APP_CERT_FILE: string; ALIPAY_CERT_FILE: string; ALIPAY_ROOT_CERT_FILE: string };

const base = {
  ALIPAY_GATEWAY: 'https://openapi.alipay.com/gateway.do',
  ALIPAY_APP_ID: '2021000122671234',
  ALIPAY_APP_PRIVATE_KEY: pem(app.privateKey),
};

function configProblems(env: Env): string {
  try {
    const config = loadConfig(env);
    alipaySettingsFromConfig(config);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

/** A logger that records what it was asked to warn about. */
function recordingLogger() {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push((JSON.parse(line) as { msg: string }).msg) });
  return { logger, lines };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cert-config-'));
  [ca, rogue] = await Promise.all([generateSandboxCa(), generateSandboxCa({ label: 'Rogue CA' })]);
  good = {
    ALIPAY_APP_CERT_FILE: file('appCertPublicKey_2021000122671234.crt', await ca.issue({ commonName: 'app', unit: 'app', publicKey: app.publicKey })),
    ALIPAY_CERT_FILE: file('alipayCertPublicKey_RSA2.crt', (await ca.issue({ commonName: 'Alipay', publicKey: alipay.publicKey })).replace(/\n/g, '\r\n')),
    ALIPAY_ROOT_CERT_FILE: file('alipayRootCert.crt', ca.rootBundlePem.replace(/\n/g, '')),
  };
}, 60_000);

describe('certificate mode configuration: every startup message', () => {
  it('a complete certificate configuration starts, with both SNs computed once', () => {
    const settings = alipaySettingsFromConfig(loadConfig({ ...base, ...good }));
    expect(settings.certificates?.appCertSn).toMatch(/^[0-9a-f]{32}$/);
    expect(settings.certificates?.alipayRootCertSn).toMatch(/^[0-9a-f]{32}$/);
    expect(settings.alipayPublicKey.export({ type: 'spki', format: 'der' })).toEqual(alipay.publicKey.export({ type: 'spki', format: 'der' }));
  });

  it('key mode and certificate mode together: says which settings to remove', () => {
    const message = configProblems({ ...base, ...good, ALIPAY_PUBLIC_KEY: publicKeyToBase64(alipay.publicKey) });
    expect(message).toContain('ALIPAY_PUBLIC_KEY and certificate mode (ALIPAY_APP_CERT_FILE, ALIPAY_CERT_FILE, ALIPAY_ROOT_CERT_FILE) are exclusive');
    expect(message).toContain('remove ALIPAY_PUBLIC_KEY to use certificate mode');
    expect(message).toContain('or remove ALIPAY_APP_CERT_FILE, ALIPAY_CERT_FILE, ALIPAY_ROOT_CERT_FILE to use public-key mode');
    const withFile = configProblems({ ...base, ALIPAY_CERT_FILE: good.ALIPAY_CERT_FILE, ALIPAY_PUBLIC_KEY_FILE: 'keys/alipay_public_key.pem' });
    expect(withFile).toContain('remove ALIPAY_PUBLIC_KEY_FILE to use certificate mode');
    expect(withFile).toContain('or remove ALIPAY_CERT_FILE to use public-key mode');
  });

  it('a partial certificate configuration names the missing files', () => {
    expect(configProblems({ ...base, ALIPAY_CERT_FILE: good.ALIPAY_CERT_FILE })).toContain(
      'Certificate mode is partly configured: also set ALIPAY_APP_CERT_FILE, ALIPAY_ROOT_CERT_FILE',
    );
  });

  it('certificate files without an app id or private key', () => {
    expect(configProblems({ ...good })).toContain('Alipay is partly configured: also set ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY');
  });

  it('SANDBOX_CERT_MODE with a real gateway', () => {
    expect(configProblems({ ...base, ...good, SANDBOX_CERT_MODE: 'true' })).toContain('SANDBOX_CERT_MODE only applies to the built-in sandbox gateway');
  });

  it('a missing file', () => {
    expect(configProblems({ ...base, ...good, ALIPAY_ROOT_CERT_FILE: path.join(dir, 'nope.crt') })).toMatch(/ALIPAY_ROOT_CERT_FILE: cannot read .*nope\.crt \(ENOENT\)/);
  });

  it('a file that is not a certificate', () => {
    const message = configProblems({ ...base, ...good, ALIPAY_APP_CERT_FILE: file('junk.crt', publicKeyToBase64(app.publicKey)) });
    expect(message).toMatch(/ALIPAY_APP_CERT_FILE \(.*junk\.crt\): no PEM certificate found/);
  });

  it('an app certificate that does not hold the app private key’s public key', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const wrong = file('wrong-app.crt', await ca.issue({ commonName: 'app', unit: 'app', publicKey: other.publicKey }));
    expect(configProblems({ ...base, ...good, ALIPAY_APP_CERT_FILE: wrong })).toMatch(/ALIPAY_APP_CERT_FILE \(.*\) does not match the app private key/);
  });

  it('the app certificate configured as the Alipay certificate', () => {
    const message = configProblems({ ...base, ...good, ALIPAY_CERT_FILE: good.ALIPAY_APP_CERT_FILE });
    expect(message).toContain('ALIPAY_CERT_FILE is your app certificate (appCertPublicKey_<appid>.crt); it must be alipayCertPublicKey_RSA2.crt');
  });

  it('an Alipay certificate that does not chain to the root bundle', async () => {
    const foreign = file('foreign.crt', await rogue.issue({ commonName: 'Alipay', publicKey: alipay.publicKey }));
    expect(configProblems({ ...base, ...good, ALIPAY_CERT_FILE: foreign })).toMatch(/ALIPAY_CERT_FILE \(.*\) does not chain to the Alipay root certificate bundle/);
  });

  it('a root bundle without any RSA certificate', () => {
    const ecOnly = ca.rootBundlePem.slice(ca.rootBundlePem.indexOf('-----END CERTIFICATE-----') + '-----END CERTIFICATE-----'.length);
    expect(configProblems({ ...base, ...good, ALIPAY_ROOT_CERT_FILE: file('ec-only.crt', ecOnly) })).toMatch(/ALIPAY_ROOT_CERT_FILE \(.*\) holds no RSA certificate/);
  });

  it('expired certificates stop startup', async () => {
    const expiredApp = file('expired-app.crt', await ca.issue({ commonName: 'app', unit: 'app', publicKey: app.publicKey, notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - DAY) }));
    expect(configProblems({ ...base, ...good, ALIPAY_APP_CERT_FILE: expiredApp })).toMatch(/ALIPAY_APP_CERT_FILE \(.*\) expired on/);
    const expiredAlipay = file('expired-alipay.crt', await ca.issue({ commonName: 'Alipay', publicKey: alipay.publicKey, notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - DAY) }));
    expect(configProblems({ ...base, ...good, ALIPAY_CERT_FILE: expiredAlipay })).toMatch(/ALIPAY_CERT_FILE \(.*\) expired on/);
  });

  it('certificates expiring within 30 days start with a warning each', async () => {
    const soon = { notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 10 * DAY + 3_600_000) };
    const env = {
      ...base,
      ...good,
      ALIPAY_APP_CERT_FILE: file('soon-app.crt', await ca.issue({ commonName: 'app', unit: 'app', publicKey: app.publicKey, ...soon })),
      ALIPAY_CERT_FILE: file('soon-alipay.crt', await ca.issue({ commonName: 'Alipay', publicKey: alipay.publicKey, ...soon })),
    };
    const { logger, lines } = recordingLogger();
    alipaySettingsFromConfig(loadConfig(env), { logger });
    expect(lines).toEqual([
      expect.stringMatching(/^ALIPAY_APP_CERT_FILE: the certificate expires on .* \(in 10 days\); renew it in the Alipay console before then$/),
      expect.stringMatching(/^ALIPAY_CERT_FILE: the certificate expires on .* \(in 10 days\)/),
    ]);
    const quiet = recordingLogger();
    alipaySettingsFromConfig(loadConfig({ ...base, ...good }), { logger: quiet.logger });
    expect(quiet.lines).toEqual([]);
  });
});
