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

/** Lines are written in batches of this size, or after FLUSH_MS at the latest. */
const BATCH_BYTES = 8 * 1024;
const FLUSH_MS = 250;

/**
 * JSON lines; with `pretty` (development in a terminal) human-readable lines instead. Standard
 * output is written asynchronously in batches (one write per ~8 KB, not one per line, off the
 * request path); `flushLogs` at shutdown, and pino at process exit, write what is still buffered.
 */
export function createLogger(level: string, opts: { pretty?: boolean } = {}): Logger {
  const options = { level, redact: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]'] };
  const stream = opts.pretty ? prettyStream() : undefined;
  if (stream) return pino(options, stream);
  return pino(options, pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES, periodicFlush: FLUSH_MS }));
}

/**
 * Resolves once every buffered log line is written: the last step before the process exits (a
 * stuck stdout gets `timeoutMs`, then what is left is written synchronously).
 */
export function flushLogs(logger: Logger, timeoutMs = 2_000): Promise<void> {
  return new Promise<void>((resolve) => {
    const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { flushSync?: () => void } | undefined;
    const late = setTimeout(() => {
      try {
        stream?.flushSync?.();
      } catch {
        // A closed or broken stdout: nothing more can be written anyway.
      }
      resolve();
    }, timeoutMs);
    logger.flush(() => {
      clearTimeout(late);
      resolve();
    });
  });
}
