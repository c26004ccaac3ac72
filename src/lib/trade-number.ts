/** Alipay's rule for out_trade_no (and out_request_no): 1–64 letters, digits or underscores. */
export const OUT_TRADE_NO_PATTERN = /^[A-Za-z0-9_]{1,64}$/;
