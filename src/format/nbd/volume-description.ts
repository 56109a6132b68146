/**
 * The description (NBD_INFO_DESCRIPTION) a holdfast NBD server gives each export, read by a
 * backup to know whether the export's dirty bitmap can make it incremental:
 *
 *   holdfast volume; kind=snapshot; generation=<32 hex>; sequence=<n>; granularity=<bytes>; bitmap=<name>
 *
 * Fields are separated by "; ", in any order; unknown fields are ignored. kind is `snapshot`
 * (read-only, its bitmap marks exactly the blocks written between snapshot sequence-1 and this
 * one of that generation), `live` (the writable export) or `read-only` (no change map). Pure.
 */

export interface VolumeDescription {
  kind: string;
  /** Null when a field is missing or malformed: the change map cannot be used. */
  changeMap: ChangeMapIdentity | null;
}

export interface ChangeMapIdentity {
  /** 32 lowercase hex characters; a tracking reset gives a new one. */
  generation: string;
  /** The snapshot's number in its generation. */
  sequence: number;
  granularityBytes: number;
  bitmapName: string;
}

export const descriptionPrefix = 'holdfast volume';
/** The granularity a server may use: a power of two from 512 bytes to 64 MiB. */
export const granularityBytesMin = 512;
export const granularityBytesMax = 64 * 1024 * 1024;
/** The granularity when the description does not say. */
export const granularityBytesDefault = 65536;

/** The description's fields; null when it is not a holdfast volume's (qemu-nbd, nbdkit...). */
export function parseVolumeDescription(text: string | null): VolumeDescription | null {
  if (text === null) return null;
  const [first, ...rest] = text.split('; ');
  if (first !== descriptionPrefix) return null;
  const fields = new Map<string, string>();
  let repeated = false;
  for (const part of rest) {
    const equals = part.indexOf('=');
    if (equals <= 0) continue;
    // A field given twice is ambiguous: its change map is not trusted.
    if (fields.has(part.slice(0, equals))) repeated = true;
    else fields.set(part.slice(0, equals), part.slice(equals + 1));
  }
  const kind = fields.get('kind') ?? 'unknown';
  const generation = fields.get('generation');
  const sequenceText = fields.get('sequence');
  const granularityText = fields.get('granularity') ?? String(granularityBytesDefault);
  const bitmapName = fields.get('bitmap');
  const sequence = sequenceText !== undefined && /^\d{1,15}$/.test(sequenceText) ? Number(sequenceText) : null;
  const granularityBytes = /^\d{1,10}$/.test(granularityText) ? Number(granularityText) : null;
  const usable =
    !repeated &&
    generation !== undefined &&
    /^[0-9a-f]{32}$/.test(generation) &&
    sequence !== null &&
    granularityBytes !== null &&
    isGranularity(granularityBytes) &&
    bitmapName !== undefined &&
    bitmapName !== '';
  return { kind, changeMap: usable ? { generation, sequence, granularityBytes, bitmapName } : null };
}

export function isGranularity(bytes: number): boolean {
  return Number.isInteger(bytes) && bytes >= granularityBytesMin && bytes <= granularityBytesMax && (bytes & (bytes - 1)) === 0;
}
