/** A progress bar with ETA on stderr (one line per 10% when stderr is not a terminal). */
export interface Progress { tick(label?: string, done?: number, total?: number): void; done(msg?: string): void }

export function createProgress(title: string, total: number, stream: { write(s: string): unknown; isTTY?: boolean } = (globalThis as any).process?.stderr): Progress {
  const start = Date.now();
  let lastDecile = -1, cur = 0;
  const fmtS = (s: number) => (s >= 90 ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s` : `${s.toFixed(s < 10 ? 1 : 0)}s`);
  return {
    tick(label = '', done?: number, newTotal?: number) {
      if (newTotal !== undefined && newTotal > 0) total = newTotal;
      cur = done ?? cur + 1;
      const frac = total > 0 ? Math.min(1, cur / total) : 1;
      const el = (Date.now() - start) / 1000;
      const eta = frac > 0 ? (el / frac) * (1 - frac) : 0;
      if (stream?.isTTY) {
        const w = 24, fill = Math.round(frac * w);
        stream.write(`\r${title} [${'#'.repeat(fill)}${' '.repeat(w - fill)}] ${cur}/${total} ${label.padEnd(18).slice(0, 18)} ${fmtS(el)} ETA ${fmtS(eta)}  `);
      } else {
        const dec = Math.floor(frac * 10);
        if (dec !== lastDecile) { lastDecile = dec; stream?.write(`${title}: ${cur}/${total} ${label} (${fmtS(el)}, ETA ${fmtS(eta)})\n`); }
      }
    },
    done(msg = '') {
      const el = (Date.now() - start) / 1000;
      stream?.write(`${stream?.isTTY ? '\r' : ''}${title}: done in ${fmtS(el)} ${msg}${' '.repeat(20)}\n`);
    },
  };
}
