import busboy from 'busboy';
import type { Request } from 'express';
import { MAX_IMAGE_BYTES } from '../media/images.js';
import { InvalidRequestError } from '../shop/errors.js';
import { HttpError } from '../web/errors.js';

/**
 * Reads the one file of a multipart upload as it streams in: nothing is written to disk and nothing
 * past 10 MB is kept (a larger upload is refused with 413).
 */
export function readImageUpload(req: Request): Promise<Buffer> {
  if (!req.is('multipart/form-data')) return Promise.reject(new InvalidRequestError('Send the image as a multipart/form-data upload (field "image").'));
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { files: 1, fileSize: MAX_IMAGE_BYTES, fields: 10, parts: 12, fieldSize: 1024 } });
    } catch {
      reject(new InvalidRequestError('This upload is not a readable multipart/form-data body.'));
      return;
    }
    let result: Buffer | undefined;
    let failure: Error | undefined;
    parser.on('file', (name, stream) => {
      if (name !== 'image') {
        failure ??= new InvalidRequestError('Upload the picture in the "image" field.');
        stream.resume();
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => {
        failure ??= new HttpError(413, 'This image is larger than 10 MB. Please upload a smaller file.');
      });
      stream.on('close', () => {
        if (!failure) result = Buffer.concat(chunks);
      });
    });
    parser.on('filesLimit', () => {
      failure ??= new InvalidRequestError('Upload one picture at a time.');
    });
    parser.on('error', () => reject(new InvalidRequestError('This upload was cut off or is not a readable multipart/form-data body.')));
    parser.on('close', () => {
      if (failure) reject(failure);
      else if (!result || result.length === 0) reject(new InvalidRequestError('Choose a picture to upload.'));
      else resolve(result);
    });
    req.pipe(parser);
  });
}
