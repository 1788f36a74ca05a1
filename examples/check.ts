/** Tiny assertion helper shared by the examples: every example checks what it prints. */
export function check(cond: unknown, what: string): void {
  if (!cond) {
    console.error(`✗ ${what}`);
    process.exit(1);
  }
  console.log(`✓ ${what}`);
}
