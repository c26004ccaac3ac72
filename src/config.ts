import path from 'node:path';
import { z } from 'zod';

// An empty value counts as unset, as in most .env conventions.
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema.optional());

const port = z.coerce.number().int().min(1).max(65535);
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s):// URL' });
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v));

const envSchema = z.object({
  NODE_ENV: optional(z.enum(['development', 'production', 'test'])),
  PORT: optional(port),
  HOST: optional(z.string()),
  PUBLIC_BASE_URL: optional(httpUrl),
  DATA_DIR: optional(z.string()),
  DATABASE_URL: optional(
    z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// connection string'),
  ),
  DATABASE_POOL_SIZE: optional(z.coerce.number().int().min(1).max(200)),
  LOG_LEVEL: optional(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])),
  TRUST_PROXY: optional(z.string()),
  SESSION_SECRET: optional(z.string().min(32, 'must be at least 32 characters')),
  ORDER_TTL_MINUTES: optional(z.coerce.number().int().min(1).max(1440)),
  CATALOG_CACHE_MS: optional(z.coerce.number().int().min(0).max(60_000)),
  ALIPAY_APP_ID: optional(z.string().regex(/^\d{10,32}$/, 'must be the numeric app id from the Alipay console')),
  ALIPAY_APP_PRIVATE_KEY: optional(z.string()),
  ALIPAY_APP_PRIVATE_KEY_FILE: optional(z.string()),
  ALIPAY_PUBLIC_KEY: optional(z.string()),
  ALIPAY_PUBLIC_KEY_FILE: optional(z.string()),
  ALIPAY_APP_CERT_FILE: optional(z.string()),
  ALIPAY_CERT_FILE: optional(z.string()),
  ALIPAY_ROOT_CERT_FILE: optional(z.string()),
  ALIPAY_GATEWAY: optional(httpUrl),
  ALIPAY_SELLER_ID: optional(z.string().regex(/^\d{16}$/, 'must be the 16-digit Alipay seller (partner) id')),
  ALIPAY_SIGN_TYPE: optional(z.enum(['RSA2', 'RSA'])),
  ALIPAY_PAGE_PAY_METHOD: optional(z.enum(['GET', 'POST'])),
  ALIPAY_SANDBOX_IN_PRODUCTION: optional(bool),
  SANDBOX_TIME_SCALE: optional(z.coerce.number().positive().max(1)),
  SANDBOX_CERT_MODE: optional(bool),
  SANDBOX_PORT: optional(port),
  METRICS_PORT: optional(port),
  METRICS_TOKEN: optional(z.string().min(16, 'must be at least 16 characters')),
  PAYMENT_EVENT_RETENTION_DAYS: optional(z.coerce.number().int().min(30, 'must be at least 30 (days)').max(36_500)),
  SHUTDOWN_DELAY_MS: optional(z.coerce.number().int().min(0).max(60_000)),
  JOBS_TIME_SCALE: optional(z.coerce.number().positive().max(1)),
  ALIPAY_TIMEOUT_MS: optional(z.coerce.number().int().min(500).max(60_000)),
  SANDBOX_BILL_TODAY: optional(bool),
  SMTP_URL: optional(z.string().regex(/^smtps?:\/\/[^\s]+$/, 'must be an smtp:// or smtps:// URL, e.g. smtps://user:pass@smtp.example.com:465')),
  MAIL_FROM: optional(z.string().max(200).regex(/^(.*<[^<>\s@]+@[^<>\s@]+>|[^<>\s@]+@[^<>\s@]+)$/, 'must be an address, e.g. "支付宝商店 Alipay Shop" <shop@example.com>')),
  MAIL_POLL_MS: optional(z.coerce.number().int().min(100).max(600_000)),
  ORDERS_PER_SESSION_PER_10_MIN: optional(z.coerce.number().int().min(1).max(100_000)),
  ORDERS_PER_IP_PER_10_MIN: optional(z.coerce.number().int().min(1).max(1_000_000)),
  ORDER_CHECKS_PER_MINUTE: optional(z.coerce.number().int().min(0).max(100_000)),
  EXPIRY_CHECKS_PER_MINUTE: optional(z.coerce.number().int().min(1).max(100_000)),
  REJECTED_NOTIFY_STORED_PER_IP_PER_10_MIN: optional(z.coerce.number().int().min(0).max(100_000)),
  SANDBOX_PUBLIC: optional(bool),
  SANDBOX_PASSWORD: optional(z.string().min(12, 'must be at least 12 characters')),
  MEDIA_STORAGE: optional(z.enum(['local', 's3'])),
  MEDIA_S3_BUCKET: optional(z.string()),
  MEDIA_S3_REGION: optional(z.string()),
  MEDIA_S3_ENDPOINT: optional(httpUrl),
  MEDIA_S3_ACCESS_KEY_ID: optional(z.string()),
  MEDIA_S3_SECRET_ACCESS_KEY: optional(z.string()),
  MEDIA_S3_FORCE_PATH_STYLE: optional(bool),
  MEDIA_PUBLIC_BASE_URL: optional(httpUrl),
});

// A misspelt ALIPAY_ name would silently switch the shop to the sandbox: refuse unknown names.
const GUARDED_PREFIXES = ['ALIPAY_', 'SANDBOX_'];
const KNOWN_NAMES = Object.keys(envSchema.shape);

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The known setting closest to a misspelt name. */
export function closestSettingName(name: string): string {
  return KNOWN_NAMES.reduce((best, known) => (editDistance(name, known) < editDistance(name, best) ? known : best));
}

function unknownSettings(env: Env): string[] {
  return Object.keys(env)
    .filter((key) => GUARDED_PREFIXES.some((p) => key.startsWith(p)) && !KNOWN_NAMES.includes(key) && env[key] !== undefined)
    .sort()
    .map((key) => `${key} is not a known setting (did you mean ${closestSettingName(key)}?)`);
}

export type Env = Record<string, string | undefined>;

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string | undefined;
  publicBaseUrl: string;
  dataDir: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  logLevel: string;
  trustProxy: boolean | number | string;
  sessionSecret: string | undefined;
  orderTtlMinutes: number;
  catalogCacheMs: number;
  alipay: {
    appId: string | undefined;
    appPrivateKey: string | undefined;
    alipayPublicKey: string | undefined;
    /** Public-key certificate mode (exclusive with alipayPublicKey): the three certificate files. */
    certFiles: { appCert: string; alipayCert: string; rootCert: string } | undefined;
    gatewayUrl: string | undefined;
    sellerId: string | undefined;
    signType: 'RSA2' | 'RSA';
    pagePayMethod: 'GET' | 'POST';
    sandboxInProduction: boolean;
  };
  sandboxTimeScale: number;
  sandboxPort: number;
  /** The built-in sandbox runs in public-key certificate mode. */
  sandboxCertMode: boolean;
  ops: {
    /** Separate listener for /metrics (bound like HOST); undefined = off. */
    metricsPort: number | undefined;
    /** Bearer token that opens /metrics on the main port; undefined = not served there. */
    metricsToken: string | undefined;
    /** Days payment events are kept; undefined = forever. */
    paymentEventRetentionDays: number | undefined;
    /** How long /readyz fails before the server stops taking requests at shutdown. */
    shutdownDelayMs: number;
    jobsTimeScale: number;
    alipayTimeoutMs: number;
  };
  sandboxBillToday: boolean;
  mail: {
    /** Unset: messages are written to DATA_DIR/mail and shown at /dev/mail (never in production). */
    smtpUrl: string | undefined;
    from: string;
    pollMs: number;
  };
  /** Bounds on what strangers can make us do (shared through PostgreSQL across instances). */
  limits: {
    ordersPerSessionPer10Min: number;
    ordersPerIpPer10Min: number;
    /** Alipay queries from order pages ("did my payment arrive?"), all orders together. */
    orderChecksPerMinute: number;
    /** Alipay queries (query + close) by the expiry sweep, all instances together. */
    expiryChecksPerMinute: number;
    rejectedNotifyStoredPerIpPer10Min: number;
  };
  /** NODE_ENV was not set: development was assumed (the startup log says so). */
  envDefaulted: boolean;
  sandbox: {
    /** Answer other addresses than loopback (a shared demo); then the console needs the password. */
    public: boolean;
    password: string | undefined;
  };
  media: {
    storage: 'local' | 's3';
    s3?: { bucket: string; region: string; endpoint?: string; accessKeyId?: string; secretAccessKey?: string; forcePathStyle: boolean };
    /** Where browsers fetch media objects (bucket URL or CDN); unset: the app serves /media/<key>. */
    publicBaseUrl?: string;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function parseTrustProxy(value: string | undefined): boolean | number | string {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}

/** Reads the whole configuration from an environment object; throws one ConfigError listing every problem. */
export function loadConfig(env: Env, cwd = process.cwd()): Config {
  const parsed = envSchema.safeParse(env);
  const unknown = unknownSettings(env);
  if (!parsed.success || unknown.length) {
    throw new ConfigError([
      ...unknown,
      ...(parsed.error?.issues ?? []).map((issue) => {
        const key = issue.path.join('.');
        const value = env[key];
        const secret = /SECRET|KEY|PASSWORD|TOKEN|DATABASE_URL|SMTP_URL/.test(key);
        const shown = value === undefined || secret ? '' : ` (got ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`;
        return `${key}: ${issue.message}${shown}`;
      }),
    ]);
  }
  const e = parsed.data;
  const problems: string[] = [];
  const pick = (inline: string | undefined, file: string | undefined, name: string) => {
    if (inline && file) problems.push(`${name} and ${name}_FILE are both set: use one`);
    return inline ?? file;
  };
  const appPrivateKey = pick(e.ALIPAY_APP_PRIVATE_KEY, e.ALIPAY_APP_PRIVATE_KEY_FILE, 'ALIPAY_APP_PRIVATE_KEY');
  const alipayPublicKey = pick(e.ALIPAY_PUBLIC_KEY, e.ALIPAY_PUBLIC_KEY_FILE, 'ALIPAY_PUBLIC_KEY');
  const certParts = { ALIPAY_APP_CERT_FILE: e.ALIPAY_APP_CERT_FILE, ALIPAY_CERT_FILE: e.ALIPAY_CERT_FILE, ALIPAY_ROOT_CERT_FILE: e.ALIPAY_ROOT_CERT_FILE };
  const certsGiven = Object.values(certParts).filter((v) => v !== undefined).length;
  const certMode = certsGiven > 0;
  if (certMode && alipayPublicKey !== undefined) {
    const keySettings = [e.ALIPAY_PUBLIC_KEY && 'ALIPAY_PUBLIC_KEY', e.ALIPAY_PUBLIC_KEY_FILE && 'ALIPAY_PUBLIC_KEY_FILE'].filter(Boolean).join(' and ');
    problems.push(
      `${keySettings} and certificate mode (ALIPAY_APP_CERT_FILE, ALIPAY_CERT_FILE, ALIPAY_ROOT_CERT_FILE) are exclusive: ` +
        `remove ${keySettings} to use certificate mode (Alipay's key is then read from ALIPAY_CERT_FILE), or remove ` +
        `${Object.entries(certParts).filter(([, v]) => v !== undefined).map(([k]) => k).join(', ')} to use public-key mode`,
    );
  } else if (certMode && certsGiven < 3) {
    const missing = Object.entries(certParts).filter(([, v]) => v === undefined).map(([k]) => k);
    problems.push(`Certificate mode is partly configured: also set ${missing.join(', ')} (appCertPublicKey_<appid>.crt, alipayCertPublicKey_RSA2.crt, alipayRootCert.crt), or remove the others`);
  }
  const alipayParts = certMode
    ? { ALIPAY_APP_ID: e.ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY: appPrivateKey }
    : { ALIPAY_APP_ID: e.ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY: appPrivateKey, ALIPAY_PUBLIC_KEY: alipayPublicKey };
  const given = Object.entries(alipayParts).filter(([, v]) => v !== undefined);
  const needed = Object.keys(alipayParts).length;
  if ((given.length > 0 || e.ALIPAY_GATEWAY || certMode) && given.length < needed) {
    const missing = Object.entries(alipayParts).filter(([, v]) => v === undefined).map(([k]) => k);
    problems.push(`Alipay is partly configured: also set ${missing.join(', ')} (or unset all ALIPAY_* to use the built-in sandbox)`);
  }
  if (e.SANDBOX_CERT_MODE && (e.ALIPAY_GATEWAY || given.length > 0 || certMode)) {
    problems.push('SANDBOX_CERT_MODE only applies to the built-in sandbox gateway: remove it, or unset the ALIPAY_* settings to use the sandbox');
  }
  const nodeEnv = e.NODE_ENV ?? 'development';
  if (nodeEnv === 'production' && e.ALIPAY_GATEWAY && !e.PUBLIC_BASE_URL) {
    problems.push('PUBLIC_BASE_URL must be set in production: Alipay sends notifications to PUBLIC_BASE_URL/alipay/notify and buyers back to PUBLIC_BASE_URL/alipay/return');
  }
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT === (e.PORT ?? 3000)) {
    problems.push('METRICS_PORT must differ from PORT (to serve /metrics on the main port, set METRICS_TOKEN instead)');
  }
  if (nodeEnv === 'production' && given.length === 3 && !e.ALIPAY_SELLER_ID) {
    problems.push('ALIPAY_SELLER_ID must be set in production: notifications for another seller are refused only when it is known');
  }
  const mediaStorage = e.MEDIA_STORAGE ?? 'local';
  if (mediaStorage === 's3') {
    if (!e.MEDIA_S3_BUCKET || !e.MEDIA_S3_REGION) problems.push('MEDIA_STORAGE=s3 needs MEDIA_S3_BUCKET and MEDIA_S3_REGION (and MEDIA_S3_ENDPOINT for services other than AWS)');
    if (!e.MEDIA_S3_ACCESS_KEY_ID !== !e.MEDIA_S3_SECRET_ACCESS_KEY) problems.push('MEDIA_S3_ACCESS_KEY_ID and MEDIA_S3_SECRET_ACCESS_KEY go together: set both (or neither, to use the AWS default credential chain)');
  }
  if (problems.length) throw new ConfigError(problems);

  const port = e.PORT ?? 3000;
  return Object.freeze({
    env: nodeEnv,
    port,
    host: e.HOST,
    publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://localhost:${port}`).replace(/\/+$/, ''),
    dataDir: path.resolve(cwd, e.DATA_DIR ?? 'data'),
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE ?? 10,
    logLevel: e.LOG_LEVEL ?? (nodeEnv === 'test' ? 'silent' : 'info'),
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    sessionSecret: e.SESSION_SECRET,
    orderTtlMinutes: e.ORDER_TTL_MINUTES ?? 30,
    catalogCacheMs: e.CATALOG_CACHE_MS ?? (nodeEnv === 'test' ? 0 : 2000),
    alipay: Object.freeze({
      appId: e.ALIPAY_APP_ID,
      appPrivateKey,
      alipayPublicKey,
      certFiles:
        e.ALIPAY_APP_CERT_FILE && e.ALIPAY_CERT_FILE && e.ALIPAY_ROOT_CERT_FILE
          ? Object.freeze({
              appCert: path.resolve(cwd, e.ALIPAY_APP_CERT_FILE),
              alipayCert: path.resolve(cwd, e.ALIPAY_CERT_FILE),
              rootCert: path.resolve(cwd, e.ALIPAY_ROOT_CERT_FILE),
            })
          : undefined,
      gatewayUrl: e.ALIPAY_GATEWAY,
      sellerId: e.ALIPAY_SELLER_ID,
      signType: e.ALIPAY_SIGN_TYPE ?? 'RSA2',
      pagePayMethod: e.ALIPAY_PAGE_PAY_METHOD ?? 'GET',
      sandboxInProduction: e.ALIPAY_SANDBOX_IN_PRODUCTION ?? false,
    }),
    sandboxTimeScale: e.SANDBOX_TIME_SCALE ?? 1,
    sandboxPort: e.SANDBOX_PORT ?? 3999,
    sandboxCertMode: e.SANDBOX_CERT_MODE ?? false,
    ops: Object.freeze({
      metricsPort: e.METRICS_PORT,
      metricsToken: e.METRICS_TOKEN,
      paymentEventRetentionDays: e.PAYMENT_EVENT_RETENTION_DAYS,
      shutdownDelayMs: e.SHUTDOWN_DELAY_MS ?? 0,
      jobsTimeScale: e.JOBS_TIME_SCALE ?? 1,
      alipayTimeoutMs: e.ALIPAY_TIMEOUT_MS ?? 5_000,
    }),
    sandboxBillToday: e.SANDBOX_BILL_TODAY ?? false,
    mail: Object.freeze({
      smtpUrl: e.SMTP_URL,
      from: e.MAIL_FROM ?? '"支付宝商店 Alipay Shop" <shop@localhost>',
      pollMs: e.MAIL_POLL_MS ?? 2000,
    }),
    limits: Object.freeze({
      ordersPerSessionPer10Min: e.ORDERS_PER_SESSION_PER_10_MIN ?? 20,
      ordersPerIpPer10Min: e.ORDERS_PER_IP_PER_10_MIN ?? 200,
      orderChecksPerMinute: e.ORDER_CHECKS_PER_MINUTE ?? 600,
      expiryChecksPerMinute: e.EXPIRY_CHECKS_PER_MINUTE ?? 300,
      rejectedNotifyStoredPerIpPer10Min: e.REJECTED_NOTIFY_STORED_PER_IP_PER_10_MIN ?? 50,
    }),
    envDefaulted: e.NODE_ENV === undefined,
    sandbox: Object.freeze({ public: e.SANDBOX_PUBLIC ?? false, password: e.SANDBOX_PASSWORD }),
    media: Object.freeze({
      storage: mediaStorage,
      s3:
        e.MEDIA_S3_BUCKET && e.MEDIA_S3_REGION
          ? {
              bucket: e.MEDIA_S3_BUCKET!,
              region: e.MEDIA_S3_REGION!,
              endpoint: e.MEDIA_S3_ENDPOINT,
              accessKeyId: e.MEDIA_S3_ACCESS_KEY_ID,
              secretAccessKey: e.MEDIA_S3_SECRET_ACCESS_KEY,
              forcePathStyle: e.MEDIA_S3_FORCE_PATH_STYLE ?? false,
            }
          : undefined,
      publicBaseUrl: e.MEDIA_PUBLIC_BASE_URL?.replace(/\/+$/, ''),
    }),
  });
}
