import 'dotenv/config';
import { ConfigError, loadConfig, type Config } from './config.js';
import { errorText } from './lib/error-text.js';
import { StartupError } from './lib/startup-error.js';
import { createLogger, flushLogs, type Logger } from './logger.js';

export interface Boot {
  config: Config;
  logger: Logger;
  /** Registers a step to run at shutdown; steps run in reverse order of registration (last opened, first closed). */
  onShutdown(name: string, step: () => Promise<void> | void): void;
  /** Runs every shutdown step once, then exits with `code`. */
  shutdown(reason: string, code?: number): Promise<never>;
}

/**
 * The one way every entry point (the app, the standalone sandbox, each CLI) starts: the config
 * is read once or the process exits with the one clear message; SIGTERM and SIGINT run the
 * shutdown steps; a startup failure runs them too and exits 1.
 */
export async function runMain(
  main: (boot: Boot) => Promise<void>,
  opts: { signals?: boolean; logLevel?: (config: Config) => string; /** Exit code when config or startup fails; default 1. */ failureCode?: number } = {},
) {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    console.error(errorText(err));
    process.exit(opts.failureCode ?? 1);
  }
  const logger = createLogger(opts.logLevel?.(config) ?? config.logLevel, { pretty: config.env === 'development' && process.stdout.isTTY === true });
  const steps: { name: string; step: () => Promise<void> | void }[] = [];
  let stopping: Promise<never> | undefined;

  const shutdown = (reason: string, code = 0): Promise<never> => {
    stopping ??= (async () => {
      for (const { name, step } of steps.reverse()) {
        try {
          await step();
        } catch (err) {
          logger.error({ err, step: name }, 'shutdown step failed');
          code = code || 1;
        }
      }
      if (code === 0 && opts.signals !== false) logger.info({ reason }, 'stopped');
      // Log lines are written asynchronously: every one of them is out before the process ends.
      await flushLogs(logger);
      process.exit(code);
    })();
    return stopping;
  };
  const boot: Boot = { config, logger, onShutdown: (name, step) => void steps.push({ name, step }), shutdown };

  if (opts.signals !== false) {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.on(signal, () => {
        logger.info({ signal }, 'shutting down');
        void shutdown(signal);
      });
    }
  }
  try {
    await main(boot);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof StartupError) console.error(err.message);
    else logger.fatal({ err }, errorText(err));
    await shutdown('startup failed', opts.failureCode ?? 1);
  }
}
