import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { PROJECT_ROOT } from '../../src/paths.js';

// The files docs/deploy.md tells operators to install, checked as far as this machine allows.
const deploy = (name: string) => readFileSync(path.join(PROJECT_ROOT, 'deploy', name), 'utf8');
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const requireNginx = process.env.REQUIRE_NGINX === '1';

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

describe('the systemd unit', () => {
  const unit = deploy('alipay-shop@.service');
  const value = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);

  it('starts node on the file `npm run build` writes for src/main.ts, from the install folder', () => {
    const [execStart] = value('ExecStart');
    const [node, script, ...rest] = execStart!.split(/\s+/);
    expect(node).toBe('/usr/bin/node');
    expect(rest).toEqual([]);
    const [workdir] = value('WorkingDirectory');
    expect(script!.startsWith(`${workdir}/`)).toBe(true);
    // Where tsc -p tsconfig.build.json puts the compiled src/main.ts (the same answer a build gives).
    const configPath = path.join(PROJECT_ROOT, 'tsconfig.build.json');
    const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(String(d.messageText)); } })!;
    const [out] = ts.getOutputFileNames(parsed, path.join(PROJECT_ROOT, 'src/main.ts'), false).filter((f) => f.endsWith('.js'));
    expect(path.relative(PROJECT_ROOT, out!)).toBe(path.relative(workdir!, script!));
    expect(JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')).scripts['start:prod']).toBe(`node ${path.relative(workdir!, script!)}`);
    // After a build (the scale-out tests make one) the file is there.
    if (existsSync(path.join(PROJECT_ROOT, 'dist'))) expect(existsSync(out!)).toBe(true);
  });

  it('sends SIGTERM to node and gives it time to drain', () => {
    expect(value('KillSignal')).toEqual(['SIGTERM']);
    expect(Number(value('TimeoutStopSec')[0])).toBeGreaterThan(10 + 5);
  });

  it.runIf(has('systemd-analyze'))('passes systemd-analyze verify', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'shop-unit-'));
    try {
      const file = path.join(dir, 'alipay-shop@1.service');
      // verify checks that ExecStart exists: point it at this machine's node and a real file.
      await writeFile(file, unit.replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} ${path.join(PROJECT_ROOT, 'package.json')}`).replace(/^EnvironmentFile=/gm, 'EnvironmentFile=-'));
      const result = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      const problems = `${result.stdout}${result.stderr}`.split('\n').filter((l) => l.includes('alipay-shop@1.service') && !/User=|Group=|alipay-shop: /.test(l));
      expect(problems).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the example environment files are a valid production configuration', () => {
    const shared = parseEnvFile(deploy('shop.env.example'));
    for (const n of [1, 2]) {
      const env = { ...shared, ...parseEnvFile(deploy(`instance-${n}.env.example`)), ALIPAY_APP_ID: '2021000122671234', ALIPAY_SELLER_ID: '2088102177649450', ALIPAY_APP_PRIVATE_KEY_FILE: 'x', ALIPAY_PUBLIC_KEY_FILE: 'y' };
      const config = loadConfig(env);
      expect(config).toMatchObject({ env: 'production', trustProxy: 'loopback', port: 3000 + n, ops: { metricsPort: 9100 + n } });
    }
  });
});

describe.runIf(has('nginx') || requireNginx)('the nginx site', () => {
  it('passes nginx -t, proxies to the instances in the unit examples and never serves /metrics', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'shop-nginx-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=shop.example.com', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
      const site = deploy('nginx-alipay-shop.conf')
        .replaceAll('/etc/letsencrypt/live/shop.example.com/fullchain.pem', path.join(dir, 'cert.pem'))
        .replaceAll('/etc/letsencrypt/live/shop.example.com/privkey.pem', path.join(dir, 'key.pem'))
        .replaceAll('/etc/nginx/alipay-shop-proxy.conf', path.join(dir, 'proxy.conf'));
      await writeFile(path.join(dir, 'site.conf'), site);
      await writeFile(path.join(dir, 'proxy.conf'), deploy('nginx-alipay-shop-proxy.conf'));
      await writeFile(path.join(dir, 'nginx.conf'), `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n  include ${dir}/site.conf;\n}\n`);
      const result = spawnSync('nginx', ['-t', '-p', dir, '-c', path.join(dir, 'nginx.conf')], { encoding: 'utf8' });
      expect(result.stderr).toContain('syntax is ok');
      expect(result.status, result.stderr).toBe(0);

      const ports = [1, 2].map((n) => parseEnvFile(deploy(`instance-${n}.env.example`)).PORT);
      for (const port of ports) expect(site).toContain(`server 127.0.0.1:${port} `);
      expect(site).toMatch(/location = \/metrics \{\s*return 404;/);
      expect(deploy('nginx-alipay-shop-proxy.conf')).toMatch(/X-Forwarded-Proto \$scheme/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
