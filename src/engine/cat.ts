/**
 * What `holdfast cat` shows: one repository file decoded to a plain JSON value, for debugging.
 * The config as stored; a snapshot, index file or lock opened with the master key and decoded;
 * a key file's public part (creation, owner, KDF parameters — never the wrapped master key).
 * Files are named by a unique prefix of their name (at least 4 hex characters), snapshots also
 * by "latest".
 */
import { holdfastError } from '../errors/holdfast-error.js';
import { decodeIndex } from '../format/repo/index-codec.js';
import type { FileKind } from '../repo/backend/backend.js';
import { readKeyFileSummary } from '../repo/key-file.js';
import type { Repository } from '../repo/repository.js';

export const catKinds = ['config', 'snapshot', 'index', 'key', 'lock'] as const;
export type CatKind = (typeof catKinds)[number];

const namePrefixCharactersMin = 4;

/** The decoded file; HOLDFAST_NO_SNAPSHOT / HOLDFAST_MISSING when the name matches no file or several. */
export async function catRepositoryObject(repository: Repository, kind: CatKind, name: string | null): Promise<unknown> {
  switch (kind) {
    case 'config':
      return repository.config;
    case 'snapshot': {
      const record = await repository.findSnapshot(requireName(kind, name));
      return { id: record.id, ...record.snapshot };
    }
    case 'index': {
      const file = await findFile(repository, 'index', requireName(kind, name));
      const packs = decodeIndex(await repository.loadSealed('index', file), `index/${file}`);
      return {
        id: file,
        packs: packs.map((pack) => ({
          id: pack.packId.toString('hex'),
          blobs: pack.blobs.map((blob) => ({ type: blob.type, id: blob.id.toString('hex'), offsetBytes: blob.offsetBytes, storedBytes: blob.storedBytes, rawBytes: blob.rawBytes })),
        })),
      };
    }
    case 'key': {
      const file = await findFile(repository, 'keys', requireName(kind, name));
      return { id: file, ...readKeyFileSummary(await repository.backend.load('keys', file), { path: `keys/${file}` }) };
    }
    case 'lock': {
      const file = await findFile(repository, 'locks', requireName(kind, name));
      return { id: file, ...(JSON.parse((await repository.loadSealed('locks', file)).toString('utf8')) as object) };
    }
  }
}

function requireName(kind: CatKind, name: string | null): string {
  if (name === null) throw holdfastError('HOLDFAST_USAGE', { operation: `cat ${kind}`, path: kind }, `give the ${kind}'s id`);
  return name;
}

async function findFile(repository: Repository, kind: FileKind, prefix: string): Promise<string> {
  const context = { operation: `cat ${kind}`, path: prefix };
  if (!/^[0-9a-f]+$/.test(prefix) || prefix.length < namePrefixCharactersMin) throw holdfastError('HOLDFAST_USAGE', context, `give at least ${namePrefixCharactersMin} hex characters of the name`);
  const matches = (await repository.backend.list(kind)).filter((file) => file.name.startsWith(prefix));
  if (matches.length === 0) throw holdfastError('HOLDFAST_MISSING', context, `no file in ${kind}/ has a name that begins with it`);
  if (matches.length > 1) throw holdfastError('HOLDFAST_USAGE', context, `${matches.length} files in ${kind}/ begin with it; give more of the name`);
  return matches[0]!.name;
}
