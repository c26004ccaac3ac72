import path from 'node:path';
import { ConfigError, type Config } from '../config.js';
import type { Db } from '../db/client.js';
import { createMailSubscribers, createMailWorker } from './outbox.js';
import { createFileTransport, createSmtpTransport, type MailTransport } from './transport.js';

export interface MailSetup {
  transport: MailTransport;
  worker: ReturnType<typeof createMailWorker>;
  subscribers: ReturnType<typeof createMailSubscribers>;
  /** The dev mailbox's folder when mail goes to files (never in production). */
  devMailDir?: string;
}

/** SMTP when SMTP_URL is set; otherwise (zero config, not in production) .eml files in DATA_DIR/mail. */
export function setUpMail(config: Config, db: Db, overrides: { transport?: MailTransport } = {}): MailSetup {
  let transport = overrides.transport;
  let devMailDir: string | undefined;
  if (!transport) {
    if (config.mail.smtpUrl) {
      transport = createSmtpTransport(config.mail.smtpUrl);
    } else if (config.env === 'production') {
      throw new ConfigError(['SMTP_URL must be set in production (receipts, email confirmation and password reset are sent by email), e.g. smtps://user:pass@smtp.example.com:465']);
    } else {
      devMailDir = path.join(config.dataDir, 'mail');
      transport = createFileTransport(devMailDir);
    }
  }
  return {
    transport,
    worker: createMailWorker({ db, transport, from: config.mail.from }),
    subscribers: createMailSubscribers({ publicBaseUrl: config.publicBaseUrl }),
    devMailDir,
  };
}
