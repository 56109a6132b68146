/**
 * Shows that rule O3 is enforced: the project's own ESLint configuration reports a floating
 * promise and a promise passed where a void callback is expected, in a fixture that contains
 * both. If the rules were switched off or the type information were missing, this fails.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('..', import.meta.url));

test('lint fails on a floating promise and on a misused promise (the fixture proves the rules are active)', async () => {
  const eslint = new ESLint({ cwd: root, ignore: false });
  const [result] = await eslint.lintFiles(['test/lint-fixtures/floating-promise.ts']);
  assert.ok(result !== undefined);
  const found = result.messages.map((message) => `${message.ruleId ?? 'parse'}:${message.line}`);
  assert.ok(found.includes('@typescript-eslint/no-floating-promises:9'), `found: ${found.join(', ')}`);
  assert.ok(found.includes('@typescript-eslint/no-misused-promises:13'), `found: ${found.join(', ')}`);
});
