import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/client.js';
import { buildApp } from '../support/app.js';

describe('when the database is down', () => {
  const db = createDb('postgres://nobody:nothing@127.0.0.1:1/none');

  it('health answers 503', async () => {
    const res = await request(buildApp(db)).get('/healthz').expect(503);
    expect(res.body.status).toBe('unavailable');
  });

  it('pages answer 500 without a stack trace in production', async () => {
    const res = await request(buildApp(db, { env: { NODE_ENV: 'production' } })).get('/').expect(500);
    expect(res.text).toContain('An unexpected error occurred');
    expect(res.text).not.toMatch(/at .*\.ts:\d+/);
    expect(res.text).not.toContain('class="stack"');
  });

  it('pages show the stack outside production, to developers', async () => {
    const res = await request(buildApp(db, { env: { NODE_ENV: 'development', LOG_LEVEL: 'silent' } })).get('/').expect(500);
    expect(res.text).toContain('class="stack"');
  });
});
