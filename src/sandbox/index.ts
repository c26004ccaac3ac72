export { createSandboxGateway, type SandboxGateway, type SandboxGatewayOptions } from './gateway.js';
export { ensureSandboxKeys, gatewayKeyOptions, generateAlipayUserId, generateAppId, type SandboxKeyFiles, type SandboxKeys } from './keys.js';
export { MAX_ATTEMPTS, NOTIFY_CONTENT_TYPE, RETRY_DELAYS_MS, type NotifyTransport, type SandboxLogger } from './notifier.js';
