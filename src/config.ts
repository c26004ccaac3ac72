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
  ALIPAY_GATEWAY: optional(httpUrl),
  ALIPAY_SELLER_ID: optional(z.string().regex(/^\d{16}$/, 'must be the 16-digit Alipay seller (partner) id')),
  ALIPAY_SIGN_TYPE: optional(z.enum(['RSA2', 'RSA'])),
  ALIPAY_PAGE_PAY_METHOD: optional(z.enum(['GET', 'POST'])),
  ALIPAY_SANDBOX_IN_PRODUCTION: optional(bool),
  SANDBOX_TIME_SCALE: optional(z.coerce.number().positive().max(1)),
  SANDBOX_PORT: optional(port),
  MEDIA_STORAGE: optional(z.enum(['local', 's3'])),
  MEDIA_S3_BUCKET: optional(z.string()),
  MEDIA_S3_REGION: optional(z.string()),
  MEDIA_S3_ENDPOINT: optional(httpUrl),
  MEDIA_S3_ACCESS_KEY_ID: optional(z.string()),
  MEDIA_S3_SECRET_ACCESS_KEY: optional(z.string()),
  MEDIA_S3_FORCE_PATH_STYLE: optional(bool),
  MEDIA_PUBLIC_BASE_URL: optional(httpUrl),
});

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
    gatewayUrl: string | undefined;
    sellerId: string | undefined;
    signType: 'RSA2' | 'RSA';
    pagePayMethod: 'GET' | 'POST';
    sandboxInProduction: boolean;
  };
  sandboxTimeScale: number;
  sandboxPort: number;
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
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const key = issue.path.join('.');
        const value = env[key];
        const secret = /SECRET|KEY|PASSWORD|DATABASE_URL/.test(key);
        const shown = value === undefined || secret ? '' : ` (got ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`;
        return `${key}: ${issue.message}${shown}`;
      }),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  const pick = (inline: string | undefined, file: string | undefined, name: string) => {
    if (inline && file) problems.push(`${name} and ${name}_FILE are both set: use one`);
    return inline ?? file;
  };
  const appPrivateKey = pick(e.ALIPAY_APP_PRIVATE_KEY, e.ALIPAY_APP_PRIVATE_KEY_FILE, 'ALIPAY_APP_PRIVATE_KEY');
  const alipayPublicKey = pick(e.ALIPAY_PUBLIC_KEY, e.ALIPAY_PUBLIC_KEY_FILE, 'ALIPAY_PUBLIC_KEY');
  const alipayParts = { ALIPAY_APP_ID: e.ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY: appPrivateKey, ALIPAY_PUBLIC_KEY: alipayPublicKey };
  const given = Object.entries(alipayParts).filter(([, v]) => v !== undefined);
  if ((given.length > 0 || e.ALIPAY_GATEWAY) && given.length < 3) {
    const missing = Object.entries(alipayParts).filter(([, v]) => v === undefined).map(([k]) => k);
    problems.push(`Alipay is partly configured: also set ${missing.join(', ')} (or unset all ALIPAY_* to use the built-in sandbox)`);
  }
  const nodeEnv = e.NODE_ENV ?? 'development';
  if (nodeEnv === 'production' && e.ALIPAY_GATEWAY && !e.PUBLIC_BASE_URL) {
    problems.push('PUBLIC_BASE_URL must be set in production: Alipay sends notifications to PUBLIC_BASE_URL/alipay/notify and buyers back to PUBLIC_BASE_URL/alipay/return');
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
      gatewayUrl: e.ALIPAY_GATEWAY,
      sellerId: e.ALIPAY_SELLER_ID,
      signType: e.ALIPAY_SIGN_TYPE ?? 'RSA2',
      pagePayMethod: e.ALIPAY_PAGE_PAY_METHOD ?? 'GET',
      sandboxInProduction: e.ALIPAY_SANDBOX_IN_PRODUCTION ?? false,
    }),
    sandboxTimeScale: e.SANDBOX_TIME_SCALE ?? 1,
    sandboxPort: e.SANDBOX_PORT ?? 3999,
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
