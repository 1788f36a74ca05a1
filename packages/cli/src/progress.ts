/**
 * A progress bar with ETA on stderr. On a terminal it redraws in place; otherwise it prints a line
 * at every 10% and at least every `everyMs` (default 3 s) while events arrive, so long steps show
 * life in logs. The ETA is '?' until some work has been done (never "0.0s" at 0%).
 */
export interface Progress {
  /** `done` of `total` finished; `sub` ∈ [0, 1] is the progress inside the current item (e.g. a streaming block). */
  tick(label?: string, done?: number, total?: number, detail?: { sub?: number }): void;
  done(msg?: string): void;
}

export function createProgress(
  title: string,
  total: number,
  stream: { write(s: string): unknown; isTTY?: boolean } = (globalThis as any).process?.stderr,
  options: { everyMs?: number; now?: () => number } = {},
): Progress {
  const now = options.now ?? (() => Date.now());
  const everyMs = options.everyMs ?? 3000;
  const start = now();
  let lastDecile = -1,
    cur = 0,
    lastPrint = start,
    sub = 0;
  const fmtS = (s: number) => (s >= 90 ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s` : `${s.toFixed(s < 10 ? 1 : 0)}s`);
  return {
    tick(label = '', done?: number, newTotal?: number, detail?: { sub?: number }) {
      if (newTotal !== undefined && newTotal > 0) total = newTotal;
      if (done !== undefined || detail?.sub === undefined) {
        const next = done ?? cur + 1;
        if (next !== cur) sub = 0;
        cur = next;
      }
      if (detail?.sub !== undefined && Number.isFinite(detail.sub)) sub = Math.max(0, Math.min(1, detail.sub));
      const frac = total > 0 ? Math.min(1, (cur + (cur < total ? sub : 0)) / total) : 1;
      const t = now();
      const el = (t - start) / 1000;
      const eta = frac > 0.001 ? fmtS((el / frac) * (1 - frac)) : '?';
      const pct = `${(frac * 100).toFixed(0)}%`;
      if (stream?.isTTY) {
        const w = 24,
          fill = Math.round(frac * w);
        stream.write(
          `\r${title} [${'#'.repeat(fill)}${' '.repeat(w - fill)}] ${cur}/${total} ${pct} ${label.padEnd(18).slice(0, 18)} ${fmtS(el)} ETA ${eta}  `,
        );
      } else {
        const dec = Math.floor(frac * 10);
        if (dec !== lastDecile || t - lastPrint >= everyMs) {
          lastDecile = dec;
          lastPrint = t;
          stream?.write(`${title}: ${cur}/${total} ${pct} ${label} (${fmtS(el)}, ETA ${eta})\n`);
        }
      }
    },
    done(msg = '') {
      const el = (now() - start) / 1000;
      stream?.write(`${stream?.isTTY ? '\r' : ''}${title}: done in ${fmtS(el)} ${msg}${stream?.isTTY ? ' '.repeat(20) : ''}\n`);
    },
  };
}
