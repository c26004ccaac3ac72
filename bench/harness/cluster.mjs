// The compiled shop as N node:cluster workers sharing one port (the primary only forwards connections).
import cluster from 'node:cluster';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const instances = Number(process.argv[2] ?? 2);
if (cluster.isPrimary) {
  for (let i = 0; i < instances; i++) cluster.fork();
  let exited = 0;
  cluster.on('exit', () => { if (++exited === instances) process.exit(0); });
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => { for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal); });
} else {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  await import(pathToFileURL(path.join(root, 'dist/src/main.js')).href);
}
