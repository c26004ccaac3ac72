import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

// pino-pretty is a dev dependency: absent from a production install, where logs are JSON anyway.
function prettyStream(): DestinationStream | undefined {
  try {
    const pretty = createRequire(import.meta.url)('pino-pretty') as (opts: object) => DestinationStream;
    return pretty({ sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  } catch {
    return undefined;
  }
}

/** JSON lines; with `pretty` (development in a terminal) human-readable lines instead. */
export function createLogger(level: string, opts: { pretty?: boolean } = {}): Logger {
  const options = { level, redact: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]'] };
  const stream = opts.pretty ? prettyStream() : undefined;
  return stream ? pino(options, stream) : pino(options);
}
