"""numpy anchor for `pnpm bench forward`: the same stories260K forward (llama2.c legacy .bin), float32,
batched scoring of windows and KV-cache decoding. Prints one JSON line."""
import json, sys, time
import numpy as np

path, windows_json, n_decode = sys.argv[1], sys.argv[2], int(sys.argv[3])
windows = json.load(open(windows_json))
raw = open(path, 'rb').read()
dim, hidden, L, H, KVH, vocab, seq = np.frombuffer(raw[:28], dtype=np.int32)
shared = vocab > 0; vocab = abs(vocab); hd = dim // H; kvd = KVH * hd
w = np.frombuffer(raw[28:], dtype=np.float32)
o = 0
def take(*shape):
    global o
    n = int(np.prod(shape)); a = w[o:o + n].reshape(shape); o += n; return a
emb = take(vocab, dim); ra = take(L, dim); wq = take(L, dim, dim); wk = take(L, kvd, dim); wv = take(L, kvd, dim); wo = take(L, dim, dim)
rf = take(L, dim); w1 = take(L, hidden, dim); w2 = take(L, dim, hidden); w3 = take(L, hidden, dim); rfin = take(dim)
take(seq * hd // 2); take(seq * hd // 2)
wcls = emb if shared else take(vocab, dim)
freqs = 1.0 / (10000.0 ** (np.arange(0, hd, 2, dtype=np.float32) / hd))

def rms(x, g): return (x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5)) * g
def rope(x, pos, nh):  # x [T, nh*hd], adjacent pairs
    T = x.shape[0]; a = np.outer(pos, freqs).astype(np.float32); c, s = np.cos(a), np.sin(a)
    x = x.reshape(T, nh, hd // 2, 2); x0, x1 = x[..., 0], x[..., 1]
    c = c[:, None, :]; s = s[:, None, :]
    return np.stack([x0 * c - x1 * s, x0 * s + x1 * c], -1).reshape(T, nh * hd)

def forward(tokens, cache, pos0):
    x = emb[tokens]; T = len(tokens); pos = np.arange(pos0, pos0 + T)
    for l in range(L):
        h = rms(x, ra[l]); q = rope(h @ wq[l].T, pos, H); k = rope(h @ wk[l].T, pos, KVH); v = h @ wv[l].T
        K, V = cache[l]; K[pos0:pos0 + T] = k; V[pos0:pos0 + T] = v; n = pos0 + T
        qh = q.reshape(T, H, hd).transpose(1, 0, 2)
        kh = np.repeat(K[:n].reshape(n, KVH, hd).transpose(1, 0, 2), H // KVH, 0)
        vh = np.repeat(V[:n].reshape(n, KVH, hd).transpose(1, 0, 2), H // KVH, 0)
        sc = qh @ kh.transpose(0, 2, 1) / np.float32(np.sqrt(hd))
        mask = np.arange(n)[None, :] > pos[:, None]; sc = np.where(mask[None], -np.inf, sc)
        sc = np.exp(sc - sc.max(-1, keepdims=True)); sc /= sc.sum(-1, keepdims=True)
        att = (sc @ vh).transpose(1, 0, 2).reshape(T, dim)
        x = x + att @ wo[l].T
        h = rms(x, rf[l]); g = h @ w1[l].T; u = h @ w3[l].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ w2[l].T
    return rms(x, rfin) @ wcls.T

def new_cache(n): return [(np.zeros((n, kvd), np.float32), np.zeros((n, kvd), np.float32)) for _ in range(L)]

# scoring
t0 = time.perf_counter(); ntok = 0; first = None
for win in windows:
    lg = forward(np.array(win), new_cache(len(win)), 0); ntok += len(win)
    if first is None: first = lg
score_s = time.perf_counter() - t0
# decoding (greedy from BOS)
cache = new_cache(n_decode + 1); tok = 1; ids = []
t0 = time.perf_counter()
for p in range(n_decode):
    lg = forward(np.array([tok]), cache, p); tok = int(lg[-1].argmax()); ids.append(tok)
dec_s = time.perf_counter() - t0
print(json.dumps({"score_tokens_per_s": ntok / score_s, "decode_tokens_per_s": n_decode / dec_s, "first_window_logits_row0_8": first[0, :8].tolist(),
                  "first_window_last_row_8": first[-1, :8].tolist(), "greedy_ids": ids, "numpy": np.__version__}))
