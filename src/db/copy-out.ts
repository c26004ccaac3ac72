import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { to as copyTo } from 'pg-copy-streams';
import { poolOf, type Db } from './client.js';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Signature, flags (int32), header extension length (int32). */
const HEADER = SIGNATURE.length + 8;

/**
 * The bytes of a one-text-column COPY … (FORMAT binary), value after value, nothing in between
 * (NULLs give nothing). Binary, because the text and csv formats would escape or quote the line
 * ends that the values carry themselves.
 */
export class CopyValues extends Transform {
  #header = true;
  #remaining = 0;
  #carry: Buffer | undefined;
  #ended = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const buf = this.#carry ? Buffer.concat([this.#carry, chunk]) : chunk;
    this.#carry = undefined;
    let i = 0;
    if (this.#header) {
      if (buf.length < HEADER) {
        this.#carry = buf;
        return callback();
      }
      if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) return callback(new Error('COPY output is not in the binary format'));
      const extension = buf.readInt32BE(SIGNATURE.length + 4);
      if (buf.length < HEADER + extension) {
        this.#carry = buf;
        return callback();
      }
      this.#header = false;
      i = HEADER + extension;
    }
    const out = Buffer.allocUnsafe(buf.length - i);
    let o = 0;
    while (i < buf.length && !this.#ended) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, buf.length - i);
        buf.copy(out, o, i, i + n);
        o += n;
        i += n;
        this.#remaining -= n;
        continue;
      }
      if (buf.length - i < 2) break;
      const fields = buf.readInt16BE(i);
      if (fields === -1) {
        this.#ended = true;
        break;
      }
      if (fields !== 1) return callback(new Error(`COPY row has ${fields} columns, expected 1`));
      if (buf.length - i < 6) break;
      this.#remaining = Math.max(0, buf.readInt32BE(i + 2));
      i += 6;
    }
    if (i < buf.length && !this.#ended) this.#carry = buf.subarray(i);
    callback(null, o > 0 ? out.subarray(0, o) : undefined);
  }

  override _flush(callback: TransformCallback): void {
    callback(this.#ended ? null : new Error('COPY output ended early'));
  }
}

/**
 * Streams `COPY (select) TO STDOUT` of a query returning one text column on a connection of the
 * client's own pool: the bytes of each value, in order. Backpressure reaches PostgreSQL (the
 * socket is not read while the consumer is full). The connection goes back to the pool when the
 * copy ends; if the consumer stops early or anything fails it is closed instead (a COPY cannot be
 * left half-read on a pooled connection), which also ends the query on the server.
 * COPY takes no parameters: `select` must carry its values as literals.
 */
export async function copyValuesOut(db: Db, select: string): Promise<Readable> {
  const pool = poolOf(db);
  if (!pool) throw new Error('copyValuesOut needs a client made by createDb (it uses its pg pool)');
  const client = await pool.connect();
  const values = new CopyValues();
  let copy;
  try {
    copy = client.query(copyTo(`COPY (${select}) TO STDOUT WITH (FORMAT binary)`));
  } catch (err) {
    client.release(true);
    throw err;
  }
  pipeline(copy, values, (err) => client.release(err ?? undefined));
  return values;
}
