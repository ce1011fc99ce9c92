/**
 * The feed builder's operators' commands (`operations-cli.ts`): their usage checks. The actions themselves are in
 * `@bgc/cache/feed-operations`, which the cache projector's `rebuild --feeds` uses too.
 */

/** An operation refused (bad usage); the message says what to do. */
export class FeedOperationRefused extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'FeedOperationRefused';
    this.code = code;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function checkUserId(userId: string | undefined): string {
  if (!userId || !UUID.test(userId))
    throw new FeedOperationRefused('USAGE', '--user needs a user id (a lowercase uuid)');
  return userId;
}
