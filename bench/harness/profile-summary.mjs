// Top frames of a V8 .cpuprofile (node --cpu-prof): self time per function, and total (inclusive)
// time for the frames of interest.   node bench/harness/profile-summary.mjs <file.cpuprofile> [top]
import { readFileSync } from 'node:fs';

const [file, topArg, skipArg] = process.argv.slice(2);
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8'));
// Optionally ignore the first `skip` seconds (start-up, set-up requests).
const skipUs = Number(skipArg ?? 0) * 1e6;
{
  let t = 0;
  profile.timeDeltas = profile.timeDeltas.map((d) => { t += d; return t < skipUs ? 0 : d; });
}
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const dt = new Map();
for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) => {
  const f = n.callFrame;
  const where = f.url ? f.url.replace(/^file:\/\//, '').replace(/.*node_modules\//, '~/').replace(/.*\/dist\//, 'dist/') : '';
  return `${f.functionName || '(anonymous)'} ${where}${where ? `:${f.lineNumber + 1}` : ''}`;
};
const self = new Map();
const total = new Map();
let all = 0;
for (const n of profile.nodes) {
  const t = dt.get(n.id) ?? 0;
  all += t;
  const l = label(n);
  self.set(l, (self.get(l) ?? 0) + t);
  const seen = new Set();
  for (let id = n.id; id !== undefined; id = parent.get(id)) {
    const pl = label(byId.get(id));
    if (seen.has(pl)) continue;
    seen.add(pl);
    total.set(pl, (total.get(pl) ?? 0) + t);
  }
}
const pct = (t) => `${((t / all) * 100).toFixed(1).padStart(5)}%`;
console.log(`${file}: ${(all / 1e6).toFixed(1)} s sampled`);
console.log('\nself time');
for (const [l, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(t)}  ${l}`);
console.log('\ntotal time (inclusive), app and library entry points');
const skip = /^\((root|program|idle|garbage collector)\)|^ \(anonymous\)$/;
for (const [l, t] of [...total].sort((a, b) => b[1] - a[1]).filter(([l]) => !skip.test(l)).slice(0, top)) console.log(`${pct(t)}  ${l}`);

console.log('\nself time by package / file (busy time only)');
const busy = all - (self.get('(idle) ') ?? 0);
const byPkg = new Map();
for (const n of profile.nodes) {
  const url = n.callFrame.url;
  const key = !url ? n.callFrame.functionName || '(native)' : url.includes('node_modules/') ? url.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, '$1') : url.startsWith('node:') ? 'node:' + url.slice(5).split('/')[0] : url.replace(/.*\/(dist|views)\//, '$1/');
  if (key === '(idle)') continue;
  byPkg.set(key, (byPkg.get(key) ?? 0) + (dt.get(n.id) ?? 0));
}
for (const [k, t] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((t / busy) * 100).toFixed(1).padStart(5)}%  ${k}`);
