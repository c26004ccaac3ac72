import type { KeyObject, X509Certificate } from 'node:crypto';
import { errorText } from '../lib/error-text.js';
import { trustAlipayCertificate, type AlipayCertificate } from './cert.js';
import { AlipayCertError } from './errors.js';

/** Where downloaded Alipay certificates are kept so every instance and restart reuses them (a port: the app gives a database-backed one). */
export interface AlipayCertStore {
  find(sn: string): Promise<string | null>;
  save(cert: { sn: string; pem: string; validTo: Date }): Promise<void>;
  /** Every stored certificate's PEM (to verify notifications after a restart). */
  list(): Promise<string[]>;
}

export interface CertLogger {
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

/** What alipay.open.app.alipaycert.download answered. */
export interface DownloadedCert {
  /** The decoded alipay_cert_content: the certificate (and intermediates) as PEM. */
  pem: string;
  /** The alipay_cert_sn the download response itself was signed with, if any. */
  signedBySn?: string;
  /** Verifies the download response's signature with a key. */
  verifyWith(key: KeyObject): boolean;
}

export type CertDownloader = (sn: string) => Promise<DownloadedCert>;

export interface AlipayCertKeyringOptions {
  /** The configured Alipay certificate (ALIPAY_CERT_FILE), already verified. */
  current: AlipayCertificate;
  rootBundle: readonly X509Certificate[];
  store?: AlipayCertStore;
  logger?: CertLogger;
  now?: () => Date;
}

export interface AlipayCertKeyring {
  readonly currentSn: string;
  /**
   * The key of the Alipay certificate with this SN. Unknown SN = Alipay rotated its certificate:
   * look in the store, else download it once (concurrent callers share one download), verify it
   * chains to the root bundle and is valid now, cache it, then answer. Untrusted → AlipayCertError.
   */
  keyFor(sn: string | undefined, download: CertDownloader): Promise<KeyObject>;
  /** Keys to verify notifications with: the configured certificate's first, then the newer ones. */
  knownKeys(): KeyObject[];
  /** Loads the stored certificates (those still trusted) so notifications verify after a restart. */
  preload(): Promise<void>;
}

const silent: CertLogger = { info() {}, warn() {}, error() {} };

export function createAlipayCertKeyring(opts: AlipayCertKeyringOptions): AlipayCertKeyring {
  const now = opts.now ?? (() => new Date());
  const logger = opts.logger ?? silent;
  const known = new Map<string, AlipayCertificate>([[opts.current.sn, opts.current]]);
  const pending = new Map<string, Promise<AlipayCertificate>>();

  const usable = (cert: AlipayCertificate | undefined): cert is AlipayCertificate =>
    cert !== undefined && cert.validTo.getTime() >= now().getTime();

  function trust(pem: string, sn: string, origin: string): AlipayCertificate {
    const cert = trustAlipayCertificate(pem, opts.rootBundle, now(), `Alipay certificate ${sn} (${origin})`);
    if (cert.sn !== sn) {
      throw new AlipayCertError(`Alipay certificate ${sn} (${origin}) has the SN ${cert.sn}, not the one asked for`);
    }
    return cert;
  }

  async function fromStore(sn: string): Promise<AlipayCertificate | undefined> {
    if (!opts.store) return undefined;
    const pem = await opts.store.find(sn);
    if (pem === null) return undefined;
    try {
      return trust(pem, sn, 'stored');
    } catch (err) {
      logger.error({ sn, err: errorText(err) }, 'stored Alipay certificate is no longer trusted; downloading it again');
      return undefined;
    }
  }

  async function fetchCertificate(sn: string, download: CertDownloader): Promise<AlipayCertificate> {
    const stored = await fromStore(sn);
    if (stored) return stored;
    logger.warn({ sn, configured: opts.current.sn }, 'Alipay signed with a certificate we do not have (rotation): downloading it');
    const got = await download(sn);
    let cert: AlipayCertificate;
    try {
      cert = trust(got.pem, sn, 'downloaded with alipay.open.app.alipaycert.download');
      const signer = got.signedBySn === undefined || got.signedBySn === cert.sn ? cert : known.get(got.signedBySn);
      if (signer !== undefined && !got.verifyWith(signer.publicKey)) {
        throw new AlipayCertError(`the alipay.open.app.alipaycert.download response for ${sn} has an invalid signature`);
      }
    } catch (err) {
      logger.error({ sn, err: errorText(err) }, 'REFUSED an Alipay certificate: it does not chain to the configured root bundle or is invalid; responses signed with it are rejected');
      throw err;
    }
    await opts.store?.save({ sn: cert.sn, pem: cert.pem, validTo: cert.validTo });
    logger.info({ sn, validTo: cert.validTo.toISOString() }, 'new Alipay certificate verified and cached');
    return cert;
  }

  return {
    currentSn: opts.current.sn,
    async keyFor(sn, download) {
      const wanted = sn === undefined || sn === '' ? opts.current.sn : sn;
      const cached = known.get(wanted);
      if (usable(cached)) return cached.publicKey;
      let inFlight = pending.get(wanted);
      if (inFlight === undefined) {
        inFlight = fetchCertificate(wanted, download).finally(() => pending.delete(wanted));
        pending.set(wanted, inFlight);
      }
      const cert = await inFlight;
      known.set(cert.sn, cert);
      return cert.publicKey;
    },
    knownKeys() {
      const current = known.get(opts.current.sn) as AlipayCertificate;
      const others = [...known.values()].filter((c) => c !== current && usable(c));
      return [current.publicKey, ...others.reverse().map((c) => c.publicKey)];
    },
    async preload() {
      if (!opts.store) return;
      for (const pem of await opts.store.list()) {
        try {
          const cert = trustAlipayCertificate(pem, opts.rootBundle, now(), 'stored Alipay certificate');
          if (!known.has(cert.sn)) known.set(cert.sn, cert);
        } catch (err) {
          logger.warn({ err: errorText(err) }, 'ignoring a stored Alipay certificate that is no longer trusted');
        }
      }
    },
  };
}
