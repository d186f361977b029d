import { z } from 'zod';

/**
 * fly's `http_options.idle_timeout`, in whole seconds, as the app config and the routes file both
 * take it: how long a connection of the app may carry no bytes (the proxy's core/decide.ts).
 */
export const idleTimeoutSeconds = z
  .number()
  .int('must be a whole number of seconds')
  .min(1, 'must be at least 1 second')
  .max(86_400, 'must be at most 86400 seconds (a day)');
