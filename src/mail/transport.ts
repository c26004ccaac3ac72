import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';

export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
}

/** Where sent mail goes: an SMTP server, or files for the dev mailbox. */
export interface MailTransport {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

const SEND_TIMEOUT_MS = 30_000;

/** nodemailer over SMTP_URL (smtp:// with STARTTLS when offered, smtps:// for TLS from the start). */
export function createSmtpTransport(url: string): MailTransport {
  const smtp = nodemailer.createTransport(url, {});
  const options = smtp.options as { connectionTimeout?: number; greetingTimeout?: number; socketTimeout?: number };
  options.connectionTimeout ??= 10_000;
  options.greetingTimeout ??= 10_000;
  options.socketTimeout ??= SEND_TIMEOUT_MS;
  return {
    async send(mail) {
      await smtp.sendMail(mail);
    },
    close: () => smtp.close(),
  };
}

export interface DevMailSummary {
  name: string;
  to: string;
  subject: string;
  date: string;
}

const NAME_PATTERN = /^[0-9]{13}-[0-9a-z-]{1,80}$/;

/**
 * Without SMTP (zero config): each message becomes DATA_DIR/mail/<name>.eml (exactly what SMTP
 * would carry) plus <name>.json (to, subject, text) for the /dev/mail page.
 */
export function createFileTransport(dir: string): MailTransport {
  const stream = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(mail) {
      const info = await stream.sendMail(mail);
      await mkdir(dir, { recursive: true });
      const slug = mail.messageId.replace(/[<>]/g, '').split('@')[0]!.toLowerCase().replace(/[^0-9a-z-]/g, '-').slice(0, 80);
      const name = `${Date.now()}-${slug}`;
      await writeFile(path.join(dir, `${name}.eml`), info.message as Buffer);
      const summary = { name, to: mail.to, subject: mail.subject, date: new Date().toISOString(), text: mail.text };
      await writeFile(path.join(dir, `${name}.json`), JSON.stringify(summary));
    },
    close: () => stream.close(),
  };
}

/** The dev mailbox's messages, newest first. */
export async function listDevMail(dir: string, limit = 100): Promise<DevMailSummary[]> {
  const files = await readdir(dir).catch(() => [] as string[]);
  const names = files.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).filter((n) => NAME_PATTERN.test(n)).sort().reverse().slice(0, limit);
  return Promise.all(
    names.map(async (name) => {
      const { to, subject, date } = JSON.parse(await readFile(path.join(dir, `${name}.json`), 'utf8')) as DevMailSummary;
      return { name, to, subject, date };
    }),
  );
}

export async function readDevMail(dir: string, name: string): Promise<(DevMailSummary & { text: string }) | null> {
  if (!NAME_PATTERN.test(name)) return null;
  const json = await readFile(path.join(dir, `${name}.json`), 'utf8').catch(() => null);
  return json ? (JSON.parse(json) as DevMailSummary & { text: string }) : null;
}

export async function readDevMailSource(dir: string, name: string): Promise<Buffer | null> {
  if (!NAME_PATTERN.test(name)) return null;
  return readFile(path.join(dir, `${name}.eml`)).catch(() => null);
}
