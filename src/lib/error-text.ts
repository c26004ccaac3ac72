/** The message of anything thrown, for logs and one-line reports. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
