// Load the real stories260K checkpoint, generate greedily, and score held-out text.
import { generate, evaluate, evalSplit } from '@llmpress/models';
import { loadStories260K } from '@llmpress/models/node';
import { check } from '../check.js';

const { model, tokenizer, text } = loadStories260K(); // $LLMPRESS_DATA or ../shared/data
const ids = generate(model, [1], { maxTokens: 40, temperature: 0 });
const story = tokenizer.decode(ids);
console.log(`greedy: ${JSON.stringify(story.slice(0, 80))}…`);
check(story.trimStart().startsWith('Once upon a time, there was a little girl named Lily.'), 'greedy decoding reproduces the reference story');
const split = evalSplit(tokenizer.encode(text));
const r = evaluate(model, split.eval.slice(0, 4));
console.log(`perplexity on 4 held-out windows × 256 tokens: ${r.ppl.toFixed(3)} (${r.tokensPerSecond.toFixed(0)} tokens/s)`);
check(r.ppl > 2 && r.ppl < 8, 'dense perplexity is in the expected range');
console.log(`stored: ${model.storedBytes()} bytes, ${model.effectiveBitsPerWeight().toFixed(1)} bits per linear weight`);
