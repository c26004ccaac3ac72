import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { publicKeyToPem, privateKeyToPem, signNotification, verifySignature, signReturnQuery } from '../../../src/alipay/index.js';
import { buildNotification as buildTradeFields } from '../../support/notifications.js';
import { makeKeyPair, type KeyPair } from './factories.js';

const CLI = path.resolve('src/cli/alipay.ts');

function runCli(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', input });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

let dir: string;
let alipay: KeyPair;
let alipayPubFile: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'alipay-cli-'));
  alipay = makeKeyPair();
  alipayPubFile = path.join(dir, 'alipay_public_key.pem');
  writeFileSync(alipayPubFile, publicKeyToPem(alipay.publicKey));
});

describe('alipay CLI', { timeout: 30_000 }, () => {
  it('keygen writes the app pair and refuses to overwrite', () => {
    const out = path.join(dir, 'keys');
    const first = runCli(['keygen', '--out', out]);
    expect(first.status).toBe(0);
    const txt = readFileSync(path.join(out, 'app_public_key.txt'), 'utf8').trim();
    expect(first.stdout).toContain(txt);
    expect(readFileSync(path.join(out, 'app_private_key.pem'), 'utf8')).toContain('BEGIN PRIVATE KEY');
    expect(statSync(path.join(out, 'app_private_key.pem')).mode & 0o777).toBe(0o600);
    expect(existsSync(path.join(out, 'app_public_key.pem'))).toBe(true);
    const second = runCli(['keygen', '--out', out]);
    expect(second.status).toBe(2);
    expect(second.stderr).toMatch(/refusing to overwrite/);
  });

  it('verify-notify: valid → 0 and prints the verified string; tampered → 1 with causes; bad input → 2', () => {
    const body = signNotification(buildTradeFields(), alipay.privateKey);
    const file = path.join(dir, 'notify.txt');
    writeFileSync(file, `${body}\n`);
    const ok = runCli(['verify-notify', '--alipay-public-key', alipayPubFile, file]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('out_trade_no=ORDER_20261125_0001');
    expect(ok.stdout).toContain('excluded:    sign, sign_type');
    expect(ok.stdout).toMatch(/VALID\n$/);

    const bad = runCli(['verify-notify', '--alipay-public-key', alipayPubFile, '-'], body.replace('total_amount=19.00', 'total_amount=1.00'));
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('INVALID');
    expect(bad.stdout).toContain('if this is your app public key');

    const escaped = runCli(['verify-notify', '--alipay-public-key', alipayPubFile, '-'], body.replace(/%22/g, '%26quot%3B'));
    expect(escaped.status).toBe(1);
    expect(escaped.stdout).toContain('&quot;');

    expect(runCli(['verify-notify', '--alipay-public-key', alipayPubFile, path.join(dir, 'missing.txt')]).status).toBe(2);
    expect(runCli(['verify-notify', '--alipay-public-key', alipayPubFile, '-'], 'a=%zz').status).toBe(2);
    expect(runCli(['verify-notify', '--alipay-public-key', file, '-'], body).status).toBe(2);
  });

  it('verify-notify accepts a full return URL', () => {
    const query = signReturnQuery({ method: 'alipay.trade.page.pay.return', out_trade_no: 'O1', trade_no: 'T1', total_amount: '1.00', app_id: '2021' }, alipay.privateKey);
    const res = runCli(['verify-notify', '--alipay-public-key', alipayPubFile, '-'], `https://shop.example.com/return?${query}`);
    expect(res.status).toBe(0);
  });

  it('sign prints the sign string then sign=<base64>', () => {
    const app = makeKeyPair();
    const keyFile = path.join(dir, 'app_private_key.pem');
    writeFileSync(keyFile, privateKeyToPem(app.privateKey));
    const paramsFile = path.join(dir, 'params.json');
    writeFileSync(paramsFile, JSON.stringify({ method: 'alipay.trade.query', app_id: '2021', sign_type: 'RSA2', sign: 'ignored', return_url: '', biz_content: '{"out_trade_no":"O1"}' }));
    const res = runCli(['sign', '--app-private-key', keyFile, paramsFile]);
    expect(res.status).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toBe('app_id=2021&biz_content={"out_trade_no":"O1"}&method=alipay.trade.query&sign_type=RSA2');
    const last = lines.at(-1) ?? '';
    expect(last).toMatch(/^sign=/);
    expect(verifySignature(lines[0] ?? '', last.slice(5), app.publicKey, 'RSA2')).toBe(true);
  });

  it('sign rejects bad input with exit 2', () => {
    const paramsFile = path.join(dir, 'bad.json');
    writeFileSync(paramsFile, '{"a": 1}');
    const keyFile = path.join(dir, 'app_private_key.pem');
    expect(runCli(['sign', '--app-private-key', keyFile, paramsFile]).status).toBe(2);
    expect(runCli(['sign', '--app-private-key', alipayPubFile, paramsFile]).status).toBe(2);
  });
});
