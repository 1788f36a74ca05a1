// Child process for the resume test: compresses and SIGKILLs itself right after block KILL_AFTER is journaled.
import { compressCheckpointStreaming } from '../stream-compress.node.js';

const [input, output, killAfter, calib, method] = process.argv.slice(2);
await compressCheckpointStreaming(input!, output!, {
  method: (method ?? 'svd-llm') as any,
  ratio: 0.3,
  calibration: JSON.parse(calib!),
  onBlock: (b) => {
    if (b === Number(killAfter)) process.kill(process.pid, 'SIGKILL');
  },
});
console.log('finished without being killed');
