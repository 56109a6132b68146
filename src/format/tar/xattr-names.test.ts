/**
 * Shows the xattr records: GNU tar's SCHILY.xattr keys escape "%" and "=" in names, and bsdtar's
 * LIBARCHIVE.xattr records (percent-encoded name, base64 value without padding, copied from
 * bsdtar-xattrs-acls.tar) decode to the same xattrs as its SCHILY.xattr twins.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAclXattrName, paxKeyForXattr, xattrFromPax } from './xattr-names.js';

const context = { operation: 'read tar archive', path: 'meta/xattrs' };

test('paxKeyForXattr() escapes "%" and "=" so the key ends at the first "="', () => {
  assert.equal(paxKeyForXattr('user.comment'), 'SCHILY.xattr.user.comment');
  assert.equal(paxKeyForXattr('user.a=b%c'), 'SCHILY.xattr.user.a%3Db%25c');
  assert.deepEqual(xattrFromPax(paxKeyForXattr('user.a=b%c'), Buffer.from('v'), context), { name: 'user.a=b%c', value: Buffer.from('v') });
});

test('xattrFromPax() reads bsdtar\'s LIBARCHIVE.xattr records like their SCHILY twins', () => {
  assert.deepEqual(xattrFromPax('LIBARCHIVE.xattr.trusted.holdfast', Buffer.from('dHJ1c3RlZCB2YWx1ZQ'), context), {
    name: 'trusted.holdfast',
    value: Buffer.from('trusted value'),
  });
  assert.deepEqual(xattrFromPax('LIBARCHIVE.xattr.user.binary', Buffer.from('Cj0A/4D+'), context)?.value, Buffer.from([0x0a, 0x3d, 0x00, 0xff, 0x80, 0xfe]));
  assert.deepEqual(xattrFromPax('LIBARCHIVE.xattr.user.empty', Buffer.alloc(0), context)?.value, Buffer.alloc(0));
  assert.equal(xattrFromPax('LIBARCHIVE.xattr.user.caf%C3%A9%3D', Buffer.from('eA'), context)?.name, 'user.café=');
});

test('xattrFromPax() ignores other keys and refuses values over xattrValueBytesMax', () => {
  assert.equal(xattrFromPax('SCHILY.acl.access', Buffer.from('user::rw-'), context), null);
  assert.throws(() => xattrFromPax('SCHILY.xattr.user.big', Buffer.alloc(65537), context), { code: 'HOLDFAST_LIMIT_EXCEEDED' });
  assert.throws(() => xattrFromPax(`SCHILY.xattr.user.${'n'.repeat(251)}`, Buffer.alloc(1), context), { code: 'HOLDFAST_LIMIT_EXCEEDED' });
});

test('isAclXattrName() knows the two POSIX ACL xattrs', () => {
  assert.ok(isAclXattrName('system.posix_acl_access'));
  assert.ok(isAclXattrName('system.posix_acl_default'));
  assert.ok(!isAclXattrName('user.posix_acl_access'));
});
