/** Exit codes of every verb (DESIGN.md §3). */
export const exitCodes = {
  ok: 0,
  fatal: 1,
  /** Finished, but some entries were left out (unreadable, refused as unsafe, not restorable). */
  partial: 3,
  interrupted: 130,
} as const;
