/**
 * A SentencePiece-BPE vocabulary (llama2.c `tokenizer.bin`, or a GGUF `llama` vocabulary) as a
 * Hugging Face `tokenizer.json` (+ `tokenizer_config.json`), so an exported Hugging Face folder is
 * self-contained. The pieces keep their ids; spaces become '▁'; SentencePiece's "merge the pair whose
 * result scores highest" becomes BPE merges ranked by that score (each piece's splits into two
 * vocabulary pieces, highest score first), with byte fallback through the `<0xNN>` pieces.
 */
import type { BpeTokenizer } from '../tokenizer.js';

const SPACE = '\u2581';

export function bpeToHfTokenizerJson(t: BpeTokenizer): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const dec = new TextDecoder('utf-8', { fatal: false });
  const special = new Set([t.bosId, t.eosId]);
  const toks = t.pieces.map((p, i) => {
    let s = dec.decode(p);
    if (special.has(i) || s.trim() === '<unk>') s = s.trim();
    return t.mode === 'spm' ? s : s.replace(/ /g, SPACE);
  });
  const unk = toks.indexOf('<unk>');
  if (unk >= 0) special.add(unk);
  const vocab: Record<string, number> = {};
  toks.forEach((s, i) => {
    if (!(s in vocab)) vocab[s] = i;
  });
  // merges: every split of a piece into two vocabulary pieces, ranked by the piece's score (then ids)
  const merges: Array<[string, string, number, number, number]> = [];
  toks.forEach((s, id) => {
    if (special.has(id) || /^<0x[0-9A-Fa-f]{2}>$/.test(s)) return;
    const cps = Array.from(s);
    for (let k = 1; k < cps.length; k++) {
      const l = cps.slice(0, k).join(''),
        r = cps.slice(k).join('');
      const li = vocab[l],
        ri = vocab[r];
      if (li !== undefined && ri !== undefined && !special.has(li) && !special.has(ri)) merges.push([l, r, t.scores[id]!, li, ri]);
    }
  });
  merges.sort((a, b) => b[2] - a[2] || a[3] - b[3] || a[4] - b[4]);
  const bos = toks[t.bosId]!,
    eos = toks[t.eosId]!;
  const added = [...special]
    .sort((a, b) => a - b)
    .map((id) => ({ id, content: toks[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPACE },
        { type: 'Replace', pattern: { String: ' ' }, content: SPACE },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bos, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: bos, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [bos]: { id: bos, ids: [t.bosId], tokens: [bos] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unk >= 0 ? '<unk>' : null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: merges.map(([l, r]) => [l, r]),
    },
  };
  const config = {
    tokenizer_class: 'LlamaTokenizerFast',
    bos_token: bos,
    eos_token: eos,
    unk_token: unk >= 0 ? '<unk>' : null,
    add_bos_token: true,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    legacy: false,
    model_max_length: 1e30,
  };
  return { tokenizer, config };
}
