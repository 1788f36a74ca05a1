import { describe, expect, it } from 'vitest';
import { hasData } from '@llmpress/tensor/testing';
import { loadStories260K } from '../node.js';
import { parseHfTokenizer } from '../hf-tokenizer.js';
import { bpeToHfTokenizerJson } from './hf-tokenizer-json.js';

describe.skipIf(!hasData())('llama2.c tokenizer → tokenizer.json', () => {
  it('Hugging Face tokenizers encodes the TinyStories text to the same ids as the llama2.c tokenizer, and decodes it back', () => {
    const { tokenizer, text } = loadStories260K();
    const { tokenizer: json, config } = bpeToHfTokenizerJson(tokenizer);
    const hf = parseHfTokenizer(JSON.stringify(json), JSON.stringify(config));
    const lines = text
      .split('\n')
      .filter((l) => l.trim())
      .slice(0, 300);
    let same = 0;
    for (const l of lines) {
      const a = tokenizer.encode(l),
        b = hf.encode(l);
      if (JSON.stringify(a) === JSON.stringify(b)) same++;
      else if (same === lines.length - 1) expect(b).toEqual(a);
    }
    expect(same).toBe(lines.length);
    expect(hf.decode(hf.encode(lines[0]!))).toBe(lines[0]);
    expect(hf.encode('héllo ☃')).toEqual(tokenizer.encode('héllo ☃'));
  });
});
