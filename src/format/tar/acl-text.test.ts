/**
 * Shows the ACL text of SCHILY.acl.access / SCHILY.acl.default: the forms GNU tar 1.34 and
 * bsdtar 3.6 wrote for the same ACL (gnu-xattrs-acls.tar and bsdtar-xattrs-acls.tar, copied here
 * by hand) decode to the same entries, names go through the injected lookup, and encoding
 * writes GNU tar's form with numeric ids.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AclEntry } from '../entry.js';
import { decodeAclText, encodeAclText, type IdLookup } from './acl-text.js';

const context = { operation: 'read tar archive', path: 'meta/acl-file' };
const lookup: IdLookup = (kind, name) => (kind === 'user' && name === 'cloudsdk' ? 1000 : kind === 'group' && name === 'users' ? 100 : null);

const fileAcl: AclEntry[] = [
  { tag: 'user-owner', id: null, permissions: 6 },
  { tag: 'user', id: 1000, permissions: 4 },
  { tag: 'group-owner', id: null, permissions: 4 },
  { tag: 'group', id: 100, permissions: 6 },
  { tag: 'mask', id: null, permissions: 6 },
  { tag: 'other', id: null, permissions: 0 },
];

test('decodeAclText() reads GNU tar\'s lines with names through the lookup', () => {
  const text = 'user::rw-\nuser:cloudsdk:r--\ngroup::r--\ngroup:users:rw-\nmask::rw-\nother::---\n';
  assert.deepEqual(decodeAclText(text, lookup, context), { entries: fileAcl, unresolvedName: null });
});

test('decodeAclText() reads bsdtar\'s commas and trailing ids, in the kernel\'s order', () => {
  const text = 'user::rw-,group::r--,other::---,user:cloudsdk:r--:1000,group:users:rw-:100,mask::rw-';
  assert.deepEqual(decodeAclText(text, undefined, context), { entries: fileAcl, unresolvedName: null });
});

test('decodeAclText() reads numeric qualifiers, short tags, loose permissions and comments', () => {
  const text = 'u::rw,u:1000:r,g::r--,g:100:wr-,m::rw-\t#effective:rw-,o::-';
  assert.deepEqual(decodeAclText(text, undefined, context).entries, fileAcl);
});

test('decodeAclText() says which name the lookup does not know instead of guessing', () => {
  assert.deepEqual(decodeAclText('user::rw-,user:nobody-here:r--,group::r--,mask::r--,other::---', lookup, context), {
    entries: null,
    unresolvedName: 'user "nobody-here"',
  });
  assert.equal(decodeAclText('group:users:rw-', undefined, context).unresolvedName, 'group "users"');
});

test('decodeAclText() rejects malformed entries', () => {
  for (const text of ['user::rwz', 'robot::rw-', 'mask:1:rw-', 'user:1000', 'user::rw-:5', 'user:1000:r--:x1']) {
    assert.throws(() => decodeAclText(text, lookup, context), { code: 'HOLDFAST_FORMAT_INVALID' }, text);
  }
});

test('encodeAclText() writes GNU tar\'s form with numeric ids, and reads back', () => {
  const text = encodeAclText(fileAcl);
  assert.equal(text, 'user::rw-\nuser:1000:r--\ngroup::r--\ngroup:100:rw-\nmask::rw-\nother::---\n');
  assert.deepEqual(decodeAclText(text, undefined, context).entries, fileAcl);
});
