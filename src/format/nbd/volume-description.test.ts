/**
 * parseVolumeDescription() reads the holdfast export description in any field order, ignores
 * unknown fields, tells non-holdfast descriptions (null) from holdfast ones without a usable
 * change map (changeMap null), and refuses malformed identities. Pure function, plain cases.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseVolumeDescription } from './volume-description.js';

const generation = '0123456789abcdef0123456789abcdef';

test('parseVolumeDescription() reads a snapshot export\'s fields in any order, ignoring unknown ones', () => {
  assert.deepEqual(parseVolumeDescription(`holdfast volume; kind=snapshot; generation=${generation}; sequence=7; granularity=65536; bitmap=holdfast`), {
    kind: 'snapshot',
    changeMap: { generation, sequence: 7, granularityBytes: 65536, bitmapName: 'holdfast' },
  });
  assert.deepEqual(parseVolumeDescription(`holdfast volume; bitmap=b; future=1; sequence=0; generation=${generation}; kind=snapshot`)?.changeMap, { generation, sequence: 0, granularityBytes: 65536, bitmapName: 'b' });
});

test('parseVolumeDescription() gives null for foreign descriptions and no change map for incomplete ones', () => {
  assert.equal(parseVolumeDescription(null), null);
  assert.equal(parseVolumeDescription(''), null);
  assert.equal(parseVolumeDescription('some qemu export'), null);
  assert.deepEqual(parseVolumeDescription('holdfast volume; kind=read-only'), { kind: 'read-only', changeMap: null });
  assert.equal(parseVolumeDescription(`holdfast volume; kind=live; generation=${generation}; sequence=2; granularity=65536; bitmap=b`)?.kind, 'live');
  for (const bad of [`generation=${generation.toUpperCase()}`, 'generation=abc', `generation=${generation}; sequence=-1`, `generation=${generation}; granularity=1000`, `generation=${generation}; granularity=256`]) {
    const text = `holdfast volume; kind=snapshot; sequence=1; bitmap=b; ${bad}`;
    assert.equal(parseVolumeDescription(text)?.changeMap, null, text);
  }
});
