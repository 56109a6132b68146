/** Exit codes of every verb (DESIGN.md §3). */
export const exitCodes = {
  ok: 0,
  fatal: 1,
  /** Finished, but some entries were left out (unreadable, refused as unsafe, not restorable). */
  partial: 3,
  /** No repository where one was named (or no default one yet). */
  noRepository: 10,
  /** The repository is locked by another process. */
  lockFailed: 11,
  /** No key of the repository opens with the password given. */
  wrongPassword: 12,
  /** SIGINT: stopped at a safe point, the lock released (a second SIGINT stops at once). */
  interrupted: 130,
  /** stdout was closed (`holdfast ls ... | head`): 128 + SIGPIPE, as a shell reports it. */
  brokenPipe: 141,
} as const;
