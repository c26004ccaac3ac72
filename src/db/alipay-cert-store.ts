import type { AlipayCertStore } from '../alipay/index.js';
import type { Db } from './client.js';

/** Downloaded Alipay certificates in PostgreSQL: every instance and every restart reuses a download. */
export function createAlipayCertStore(db: Db): AlipayCertStore {
  return {
    async find(sn) {
      const row = await db.alipayCertificate.findUnique({ where: { sn }, select: { pem: true } });
      return row?.pem ?? null;
    },
    async save({ sn, pem, validTo }) {
      // Concurrent instances may download the same certificate: the first row wins, the rest is the same certificate.
      await db.alipayCertificate.createMany({ data: [{ sn, pem, validTo }], skipDuplicates: true });
    },
    async list() {
      const rows = await db.alipayCertificate.findMany({ where: { validTo: { gt: new Date() } }, orderBy: { createdAt: 'asc' }, select: { pem: true } });
      return rows.map((r) => r.pem);
    },
  };
}
