/**
 * Tests run against the real tools. A test whose tool (or root) is missing is skipped with the
 * reason, except in CI (CI=true), where a missing tool is a failure: CI installs everything.
 */
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

const inCi = process.env['CI'] === 'true';

function hasTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** True when the test may go on; otherwise it has been skipped (or fails in CI). */
export function requireTools(t: TestContext, ...tools: string[]): boolean {
  const missing = tools.filter((tool) => !hasTool(tool));
  if (missing.length === 0) return true;
  const reason = `needs ${missing.join(', ')} (run scripts/install-debian-packages.sh)`;
  if (inCi) throw new Error(`CI is missing a tool this test needs: ${reason}`);
  t.skip(reason);
  return false;
}

export function requireRoot(t: TestContext): boolean {
  if (process.getuid?.() === 0) return true;
  const reason = 'needs root (loop devices, mount, fsfreeze)';
  if (inCi) throw new Error(`CI must run as root: ${reason}`);
  t.skip(reason);
  return false;
}
