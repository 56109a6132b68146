/**
 * Paths meet entry names in both snapshot versions: a version 2 snapshot is looked up by the
 * absolute path; a version 1 snapshot (names from each root's own name) by the root a path is
 * under, and its names are made absolute for diff and for the next backup's parent test, so the
 * first backup after an upgrade reads no unchanged file again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { absoluteEntryName, entryPathIn, shownEntryPath } from './snapshot-paths.js';

const version1 = { version: 1, paths: ['/srv/www', '/etc/app/'] };
const version2 = { version: 2, paths: ['/srv/www', '/etc/app'] };
const text = (name: Buffer | null): string | null => (name === null ? null : name.toString('latin1'));

test('a path names a version 2 entry by its absolute path; "/" is the whole snapshot', () => {
  assert.equal(text(entryPathIn(version2, '/srv/www/docs/')), 'srv/www/docs');
  assert.equal(text(entryPathIn(version2, 'srv//www/./docs')), 'srv/www/docs');
  assert.equal(entryPathIn(version2, '/'), null);
  assert.equal(entryPathIn(version2, null), null);
});

test('a path names a version 1 entry from the root it is under', () => {
  assert.equal(text(entryPathIn(version1, '/srv/www/docs')), 'www/docs');
  assert.equal(text(entryPathIn(version1, '/etc/app')), 'app');
  assert.equal(text(entryPathIn(version1, 'www/docs')), 'www/docs');
});

test('version 1 names become absolute; version 2 names stay as they are', () => {
  assert.equal(text(absoluteEntryName(version1, Buffer.from('www/docs/readme.txt'))), 'srv/www/docs/readme.txt');
  assert.equal(text(absoluteEntryName(version1, Buffer.from('app'))), 'etc/app');
  assert.equal(text(absoluteEntryName(version1, Buffer.from('other/x'))), 'other/x');
  assert.equal(text(absoluteEntryName(version2, Buffer.from('www/x'))), 'www/x');
  assert.equal(shownEntryPath(version2, Buffer.from('srv/www')), '/srv/www');
  assert.equal(shownEntryPath(version1, Buffer.from('www')), 'www');
});
