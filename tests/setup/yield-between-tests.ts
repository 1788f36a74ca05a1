/**
 * Vitest setup (every test file): one event-loop turn before and after each test.
 *
 * A vitest worker talks to the main process over an RPC whose calls time out after 60 s, and the
 * worker reads the replies only when its event loop turns. Consecutive tests that compute without a
 * macrotask in between (awaiting already-resolved promises never leaves the microtask queue) keep the
 * loop from turning; on a loaded machine their sum passes 60 s and the run fails with
 * `Timeout calling "onTaskUpdate"` although every test passed (issue 21, item 9). A `setImmediate`
 * turn lets the poll phase read the pending replies. A single test whose own synchronous stretch is
 * longer than 60 s still needs to yield inside (or spawn asynchronously) itself.
 */
import { afterEach, beforeEach } from 'vitest';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
beforeEach(async () => {
  await turn();
});
afterEach(async () => {
  await turn();
});
