/**
 * POSIX ACLs as the text of the pax records SCHILY.acl.access and SCHILY.acl.default.
 *
 * GNU tar 1.34 writes acl_to_text() output: one entry a line, a newline after each, names from
 * the user database where it has them ("user::rw-\nuser:alice:r--\ngroup::r--\nmask::r--\n
 * other::r--\n"). bsdtar 3.6 writes entries separated by commas and appends the numeric id to
 * named entries ("user::rw-,group::r--,other::---,user:alice:r--:1000,mask::rw-"), in its own
 * order. Encoding follows GNU tar's form with numeric qualifiers, since the model keeps ids, not
 * names: "user:1000:r--". Both tars read numeric qualifiers back as ids.
 *
 * Decoding accepts both forms and short tags (u, g, m, o), permission letters in any order with
 * '-' placeholders, and "#" comments (acl_to_text's "#effective:"). A qualifier is read as, in
 * order: the trailing ":id", a decimal number, or a name given to the injected lookup. Entries
 * come back in the kernel's order: by tag, then by id. Pure codec.
 */
import type { ErrorContext } from '../../errors/holdfast-error.js';
import { holdfastError } from '../../errors/holdfast-error.js';
import type { AclEntry, AclTag } from '../entry.js';
import { checkTarLimit } from './limits.js';

/** Resolves a user or group name to its id on the restoring system; null when unknown. */
export type IdLookup = (kind: 'user' | 'group', name: string) => number | null;

const tagOrder: Readonly<Record<AclTag, number>> = { 'user-owner': 0, user: 1, 'group-owner': 2, group: 3, mask: 4, other: 5 };

function permissionText(permissions: number): string {
  return `${permissions & 4 ? 'r' : '-'}${permissions & 2 ? 'w' : '-'}${permissions & 1 ? 'x' : '-'}`;
}

function entryText(entry: AclEntry): string {
  switch (entry.tag) {
    case 'user-owner':
      return `user::${permissionText(entry.permissions)}`;
    case 'user':
      return `user:${entry.id ?? ''}:${permissionText(entry.permissions)}`;
    case 'group-owner':
      return `group::${permissionText(entry.permissions)}`;
    case 'group':
      return `group:${entry.id ?? ''}:${permissionText(entry.permissions)}`;
    case 'mask':
      return `mask::${permissionText(entry.permissions)}`;
    case 'other':
      return `other::${permissionText(entry.permissions)}`;
  }
}

/** GNU tar's form, entries in the order given, each followed by a newline. */
export function encodeAclText(entries: readonly AclEntry[]): string {
  return entries.map((entry) => `${entryText(entry)}\n`).join('');
}

export type AclTextResult = { entries: AclEntry[]; unresolvedName: null } | { entries: null; unresolvedName: string };

/**
 * The entries of an ACL text. A name the lookup cannot resolve is not an error here: the result
 * says which one, so the decoder can fall back to the binary xattr GNU tar also writes.
 */
export function decodeAclText(text: string, lookupId: IdLookup | undefined, context: ErrorContext): AclTextResult {
  const entries: AclEntry[] = [];
  for (const raw of text.split(/[,\n]/)) {
    const entryWithoutComment = raw.replace(/#.*$/, '').trim();
    if (entryWithoutComment === '') continue;
    checkTarLimit('aclEntryCountMax', entries.length + 1, 'the number of ACL entries', context);
    const parsed = parseEntry(entryWithoutComment, lookupId, context);
    if (typeof parsed === 'string') return { entries: null, unresolvedName: parsed };
    entries.push(parsed);
  }
  entries.sort((a, b) => tagOrder[a.tag] - tagOrder[b.tag] || (a.id ?? 0) - (b.id ?? 0));
  return { entries, unresolvedName: null };
}

const tagNames: Readonly<Record<string, 'user' | 'group' | 'mask' | 'other'>> = {
  user: 'user',
  u: 'user',
  group: 'group',
  g: 'group',
  mask: 'mask',
  m: 'mask',
  other: 'other',
  o: 'other',
};

/** One entry, or the "user alice" it could not resolve. */
function parseEntry(text: string, lookupId: IdLookup | undefined, context: ErrorContext): AclEntry | string {
  const invalid = (): Error => holdfastError('HOLDFAST_FORMAT_INVALID', context, `bad ACL entry "${text.slice(0, 80)}"`);
  const fields = text.split(':');
  const kind = tagNames[fields[0] ?? ''];
  if (kind === undefined || fields.length < 3 || fields.length > 4) throw invalid();
  const qualifier = fields[1]!;
  const permissions = parsePermissions(fields[2]!);
  if (permissions === null) throw invalid();
  const trailingId = fields[3];
  if (kind === 'mask' || kind === 'other') {
    if (qualifier !== '' || trailingId !== undefined) throw invalid();
    return { tag: kind, id: null, permissions };
  }
  if (qualifier === '') {
    if (trailingId !== undefined) throw invalid();
    return { tag: kind === 'user' ? 'user-owner' : 'group-owner', id: null, permissions };
  }
  const id = resolveId(kind, qualifier, trailingId, lookupId);
  if (id === undefined) throw invalid();
  if (id === null) return `${kind} "${qualifier}"`;
  checkTarLimit('idMax', id, `the id in ACL entry "${text.slice(0, 80)}"`, context);
  return { tag: kind, id, permissions };
}

/** The id: undefined when malformed, null when a name is unknown to the lookup. */
function resolveId(kind: 'user' | 'group', qualifier: string, trailingId: string | undefined, lookupId: IdLookup | undefined): number | null | undefined {
  if (trailingId !== undefined) return /^[0-9]{1,10}$/.test(trailingId) ? Number(trailingId) : undefined;
  if (/^[0-9]{1,10}$/.test(qualifier)) return Number(qualifier);
  return lookupId?.(kind, qualifier) ?? null;
}

function parsePermissions(text: string): number | null {
  if (text.length === 0 || text.length > 3) return null;
  let permissions = 0;
  for (const letter of text) {
    if (letter === 'r') permissions |= 4;
    else if (letter === 'w') permissions |= 2;
    else if (letter === 'x') permissions |= 1;
    else if (letter !== '-') return null;
  }
  return permissions;
}
