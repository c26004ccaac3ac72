import { InvalidRequestError } from './errors.js';

/**
 * What a person typed into a search box, trimmed; undefined when empty. Control characters are
 * refused (PostgreSQL cannot hold a NUL in text, and no one types the others), and so is text over
 * `max` characters.
 */
export function searchText(value: unknown, max: number): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new InvalidRequestError('Give the search text once.');
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new InvalidRequestError('The search text may not contain control characters.');
  const text = value.trim();
  if (text.length > max) throw new InvalidRequestError(`The search text is too long (at most ${max} characters).`);
  return text || undefined;
}
