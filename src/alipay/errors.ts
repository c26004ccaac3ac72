/** Base class of every error thrown by the Alipay protocol module. */
export class AlipayError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A key setting is unusable; `setting` names it (e.g. ALIPAY_PUBLIC_KEY). */
export class AlipayKeyError extends AlipayError {
  readonly setting: string;
  constructor(setting: string, message: string, options?: { cause?: unknown }) {
    super(message.startsWith(setting) ? message : `${setting}: ${message}`, options);
    this.setting = setting;
  }
}

/** A signature did not verify; `signString` is exactly what was verified. */
export class AlipaySignatureError extends AlipayError {
  readonly signString: string;
  readonly reason: string;
  constructor(message: string, details: { signString: string; reason: string }) {
    super(message);
    this.signString = details.signString;
    this.reason = details.reason;
  }
}

export type AlipayNotificationErrorReason =
  | 'malformed-body'
  | 'missing-field'
  | 'invalid-field'
  | 'unknown-charset'
  | 'unsupported-sign-type'
  | 'unsupported-notify-type'
  | 'bad-signature';

/** A notification or return query was rejected; never act on it. */
export class AlipayNotificationError extends AlipayError {
  readonly reason: AlipayNotificationErrorReason;
  readonly signString?: string;
  readonly field?: string;
  constructor(
    reason: AlipayNotificationErrorReason,
    message: string,
    details: { signString?: string; field?: string } = {},
  ) {
    super(message);
    this.reason = reason;
    if (details.signString !== undefined) this.signString = details.signString;
    if (details.field !== undefined) this.field = details.field;
  }
}

/** A gateway response that cannot be verified or understood; never treat it as success. */
export class AlipayResponseError extends AlipayError {
  /** The unverified body, for diagnostics only. */
  readonly rawText?: string;
  constructor(message: string, details: { rawText?: string; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    if (details.rawText !== undefined) this.rawText = details.rawText;
  }
}

/** Network failure, timeout or non-2xx HTTP status talking to the gateway. */
export class AlipayTransportError extends AlipayError {
  readonly status?: number;
  readonly timedOut: boolean;
  constructor(message: string, details: { status?: number; timedOut?: boolean; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    if (details.status !== undefined) this.status = details.status;
    this.timedOut = details.timedOut ?? false;
  }
}

/** A request parameter violates Alipay's documented limits (caught before signing). */
export class AlipayParamError extends AlipayError {
  readonly param: string;
  constructor(param: string, message: string) {
    super(`${param}: ${message}`);
    this.param = param;
  }
}

/** A certificate (public-key certificate mode) is unreadable, expired, mismatched or untrusted. */
export class AlipayCertError extends AlipayError {}
