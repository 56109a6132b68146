#!/usr/bin/env node
// Runs every *.test.ts below src/ and test/ (or below the folders given) with node:test, through
// tsx so that tests need no build. --expose-gc lets the leak tests force a collection; no test may
// run longer than 5 minutes, so a hang fails CI instead of stalling it.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(directory) {
  const found = [];
  for (const name of readdirSync(directory)) {
    if (name === 'node_modules' || name === 'lint-fixtures') continue;
    const path = join(directory, name);
    if (statSync(path).isDirectory()) found.push(...find(path));
    else if (name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['src', 'test'];
const files = roots.flatMap((root) => (statSync(root).isDirectory() ? find(root) : [root])).sort();
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', '--test', '--test-reporter=spec', '--test-timeout=300000', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
