import { errorText } from '../lib/error-text.js';

/** What the runner logs through (pino's Logger fits). */
export interface JobLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface JobRunner {
  /**
   * Runs `job` now and then every `ms`; a run never overlaps the previous one (a tick that finds
   * it still running is skipped). What the job returns is logged when it is a non-empty summary.
   */
  every(name: string, ms: number, job: () => Promise<object | void>): void;
  /** Stops the timers and waits for the runs in progress. */
  stop(): Promise<void>;
}

function worthLogging(summary: object | void): summary is object {
  return summary !== undefined && Object.values(summary).some((v) => v !== 0 && v !== false && v !== undefined);
}

export interface JobRunnerOptions {
  /**
   * Asked before each run (src/jobs/claim.ts): undefined means another instance has this period
   * and the run is skipped; otherwise the run happens and the returned release is called after
   * it. Without it every tick runs.
   */
  claim?: (name: string, periodMs: number) => Promise<(() => Promise<void>) | undefined>;
  /** Hears every tick's outcome (metrics). */
  onRun?: (name: string, outcome: 'ok' | 'failed' | 'skipped', seconds: number) => void;
}

export function createJobRunner(logger: JobLogger, opts: JobRunnerOptions = {}): JobRunner {
  const timers: NodeJS.Timeout[] = [];
  const running = new Map<string, Promise<void>>();
  let stopped = false;

  const run = (name: string, ms: number, job: () => Promise<object | void>) => {
    if (stopped || running.has(name)) return;
    const started = Date.now();
    const seconds = () => (Date.now() - started) / 1000;
    const claimed = opts.claim ? opts.claim(name, ms) : Promise.resolve(async () => {});
    const done = claimed
      .then(async (release) => {
        if (!release) return opts.onRun?.(name, 'skipped', seconds());
        const summary = await job().finally(release);
        opts.onRun?.(name, 'ok', seconds());
        if (worthLogging(summary)) logger.info({ job: name, ms: Date.now() - started, ...summary }, `job ${name}`);
      })
      .catch((err: unknown) => {
        opts.onRun?.(name, 'failed', seconds());
        logger.error({ err, job: name }, `job ${name} failed: ${errorText(err)}`);
      })
      .finally(() => running.delete(name));
    running.set(name, done);
  };

  return {
    every(name, ms, job) {
      const timer = setInterval(() => run(name, ms, job), ms);
      timer.unref();
      timers.push(timer);
      run(name, ms, job);
    },
    async stop() {
      stopped = true;
      for (const timer of timers) clearInterval(timer);
      await Promise.all(running.values());
    },
  };
}
