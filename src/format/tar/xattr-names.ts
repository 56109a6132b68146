/**
 * Extended attributes in pax records. GNU tar 1.34 writes SCHILY.xattr.NAME=VALUE with the value
 * raw, and "%" and "=" in the name written as "%25" and "%3D" (a key ends at its first '=').
 * bsdtar 3.6 writes each xattr twice: SCHILY.xattr.NAME with the name as it is, and
 * LIBARCHIVE.xattr.NAME with the name percent-encoded and the value in base64 without padding.
 *
 * The POSIX ACL xattrs are not the model's xattrs (the model carries ACLs apart), so xattrFromPax
 * reports them as such; GNU tar writes them next to SCHILY.acl.* with --xattrs-include='*'.
 * Pure codec; oversized names and values are HOLDFAST_LIMIT_EXCEEDED.
 */
import type { ErrorContext } from '../../errors/holdfast-error.js';
import { aclXattrNames } from '../acl-xattr.js';
import type { Xattr } from '../entry.js';
import { checkTarLimit } from './limits.js';

const schilyPrefix = 'SCHILY.xattr.';
const libarchivePrefix = 'LIBARCHIVE.xattr.';

export function isAclXattrName(name: string): boolean {
  return name === aclXattrNames.access || name === aclXattrNames.default;
}

/** The pax key GNU tar writes for an xattr. */
export function paxKeyForXattr(name: string): string {
  return schilyPrefix + name.replace(/[%=]/g, (character) => (character === '%' ? '%25' : '%3D'));
}

/** The xattr a pax record carries, or null when the key is not an xattr key. */
export function xattrFromPax(key: string, value: Buffer, context: ErrorContext): Xattr | null {
  let xattr: Xattr;
  if (key.startsWith(schilyPrefix)) {
    const name = key.slice(schilyPrefix.length).replace(/%(25|3D)/g, (escape) => (escape === '%25' ? '%' : '='));
    xattr = { name, value: Buffer.from(value) };
  } else if (key.startsWith(libarchivePrefix)) {
    xattr = { name: percentDecode(key.slice(libarchivePrefix.length)), value: Buffer.from(value.toString('latin1'), 'base64') };
  } else {
    return null;
  }
  checkTarLimit('xattrNameBytesMax', Buffer.byteLength(xattr.name), `the name of xattr "${xattr.name.slice(0, 80)}"`, context);
  checkTarLimit('xattrValueBytesMax', xattr.value.length, `the value of xattr "${xattr.name}"`, context);
  return xattr;
}

function percentDecode(text: string): string {
  if (!text.includes('%')) return text;
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index++) {
    const hex = text.slice(index + 1, index + 3);
    if (text[index] === '%' && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      index += 2;
    } else {
      bytes.push(...Buffer.from(text[index]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
