// Passwords of 10+ characters that top the public breach lists (SecLists' most common passwords);
// compared case-insensitively. A small list on purpose: it stops the guesses tried first.
const COMMON = [
  '1234567890', '0123456789', '0987654321', '1111111111', '0000000000', '1234512345', '1122334455',
  '1q2w3e4r5t', 'q1w2e3r4t5', '1qaz2wsx3edc', 'qwertyuiop', 'qwerty1234', 'qwerty12345', 'qwerty123456',
  'asdfghjkl;', 'asdfghjkl1', 'zxcvbnm123', 'password12', 'password123', 'password1234', 'password!1',
  'passw0rd123', 'p@ssw0rd123', 'iloveyou12', 'iloveyou123', 'abc1234567', 'abcd123456', 'abcdefghij',
  'aa12345678', 'a123456789', 'qq123456789', 'woaini1314', 'woaini520', '5201314520', '1314520520',
  'letmein123', 'welcome123', 'welcome1234', 'admin12345', 'administrator', 'football123', 'baseball123',
  'sunshine12', 'princess12', 'dragon1234', 'monkey1234', 'superman123', 'trustno1234', 'changeme123',
  'alipay1234', 'alipay123456', 'taobao1234', 'taobao123456', 'shop123456', '11223344556', '123456789a',
  '123456789q', '12345678910', '123123123123', '123321123321', '147258369147', '1234567890q',
  'qazwsxedcrfv', 'zaq12wsxcde3', '!qaz2wsx3edc', 'password', '12345678', '123456789',
];

const SET = new Set(COMMON.map((p) => p.toLowerCase()));

export function isCommonPassword(password: string, email?: string): boolean {
  const lower = password.toLowerCase();
  if (SET.has(lower)) return true;
  // One character repeated, or the email (or its local part) as the password.
  if (/^(.)\1*$/.test(lower)) return true;
  if (email && (lower === email.toLowerCase() || lower === email.split('@')[0]?.toLowerCase())) return true;
  return false;
}
