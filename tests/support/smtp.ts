import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { freePort } from '../../src/db/embedded-postgres/os.js';

export interface ReceivedMail {
  /** RCPT TO addresses of the SMTP envelope. */
  envelopeTo: string[];
  raw: Buffer;
  parsed: ParsedMail;
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * A real SMTP server on a free port (smtp-server), keeping every message it accepts, parsed with
 * mailparser. stop() then start() take it down and up again on the same port.
 */
export async function startSmtpServer() {
  const port = await freePort('127.0.0.1');
  const received: ReceivedMail[] = [];
  let server: SMTPServer | undefined;

  const start = async () => {
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks);
          simpleParser(raw)
            .then((parsed) => {
              const to = Array.isArray(parsed.to) ? parsed.to.map((a) => a.text).join(', ') : (parsed.to?.text ?? '');
              received.push({
                envelopeTo: session.envelope.rcptTo.map((r) => r.address),
                raw,
                parsed,
                to,
                subject: parsed.subject ?? '',
                text: parsed.text ?? '',
                html: typeof parsed.html === 'string' ? parsed.html : '',
              });
              callback();
            })
            .catch(callback);
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(port, '127.0.0.1', () => resolve());
    });
  };

  const stop = () =>
    new Promise<void>((resolve) => {
      if (!server) return resolve();
      const s = server;
      server = undefined;
      s.close(() => resolve());
    });

  await start();
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    received,
    start,
    stop,
    /** Messages whose envelope goes to `address`. */
    to(address: string) {
      return received.filter((m) => m.envelopeTo.includes(address));
    },
  };
}

export type TestSmtpServer = Awaited<ReturnType<typeof startSmtpServer>>;

/** The first http(s) link in a text that contains `path`. */
export function linkIn(text: string, path: string): string {
  const link = text.match(/https?:\/\/[^\s<>"]+/g)?.find((l) => l.includes(path));
  if (!link) throw new Error(`no link with ${path} in:\n${text}`);
  return link;
}
