// The latency floor of this machine for a given CPU cost per request: a bare node:http server that
// reads the request, spends `ms` milliseconds of CPU (query ?ms=) in four slices with an event-loop
// turn between them (like a handler awaiting three queries), and answers 200. No database, no
// allocation to speak of, the same work for every request: whatever spread its p99 shows under the
// harness's wrk settings comes from one event loop serving many connections on shared cores, not
// from anything a shop does. The harness runs it at the shop's own CPU per request.
import http from 'node:http';

const SLICES = 4;

function spend(ms: number) {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const server = http.createServer((req, res) => {
  const ms = Math.min(50, Math.max(0, Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms')) || 0));
  req.resume();
  req.on('end', async () => {
    for (let i = 0; i < SLICES; i++) {
      if (i > 0) await nextTurn();
      spend(ms / SLICES);
    }
    res.end('ok');
  });
});
server.listen(Number(process.env.PORT ?? 3100), process.env.HOST ?? '127.0.0.1');
