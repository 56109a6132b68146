/**
 * NBD URIs, as the NBD project's doc/uri.md and libnbd write them, for the client's two
 * transports:
 *
 *   nbd+unix:///EXPORT?socket=PATH   a Unix socket; EXPORT may be empty (the default export)
 *   nbd://HOST[:PORT]/EXPORT         TCP, port 10809 unless given; HOST may be [IPv6]
 *
 * EXPORT is percent-decoded. TLS (nbds://) is not supported. Pure: text in, address out; a URI
 * that cannot be used is a HOLDFAST_USAGE error naming it.
 */
import { holdfastError } from '../errors/holdfast-error.js';

export const nbdDefaultPort = 10809;
/** The protocol allows export names of up to 4096 bytes. */
const exportNameBytesMax = 4096;

export type NbdAddress =
  | { transport: 'unix'; socketPath: string; exportName: string }
  | { transport: 'tcp'; host: string; port: number; exportName: string };

/** True when `text` is meant as an NBD URI (and not as a file path). */
export function isNbdUri(text: string): boolean {
  return /^nbds?(\+(unix|tcp|vsock))?:\/\//i.test(text);
}

export function parseNbdUri(uri: string): NbdAddress {
  const fail = (reason: string): Error => holdfastError('HOLDFAST_USAGE', { operation: 'parse NBD URI', path: uri }, reason);
  const scheme = /^([a-z+]+):\/\//i.exec(uri)?.[1]?.toLowerCase();
  if (scheme === undefined) throw fail('it is not an NBD URI (nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH)');
  if (scheme.startsWith('nbds')) throw fail('TLS (nbds) is not supported; use nbd:// or nbd+unix://');
  if (scheme !== 'nbd' && scheme !== 'nbd+tcp' && scheme !== 'nbd+unix') throw fail(`the scheme "${scheme}" is not supported (nbd or nbd+unix)`);
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw fail('it is not a well-formed URI');
  }
  if (url.username !== '' || url.password !== '') throw fail('user names and passwords in the URI are not supported');
  if (url.hash !== '') throw fail('an NBD URI has no fragment');
  let exportName: string;
  try {
    exportName = decodeURIComponent(url.pathname.replace(/^\//, ''));
  } catch {
    throw fail('its export name is not valid percent-encoding');
  }
  if (Buffer.byteLength(exportName, 'utf8') > exportNameBytesMax) throw fail(`its export name is longer than ${exportNameBytesMax} bytes`);
  const parameters = [...url.searchParams.keys()];
  if (scheme === 'nbd+unix') {
    if (url.host !== '') throw fail('nbd+unix takes no host: write nbd+unix:///EXPORT?socket=PATH');
    const socketPath = url.searchParams.get('socket');
    if (socketPath === null || socketPath === '') throw fail('nbd+unix needs ?socket=PATH');
    const unknown = parameters.filter((name) => name !== 'socket');
    if (unknown.length > 0) throw fail(`unknown query parameter "${unknown[0]}"`);
    return { transport: 'unix', socketPath, exportName };
  }
  if (parameters.length > 0) throw fail(`unknown query parameter "${parameters[0]}" (nbd:// takes none)`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw fail('nbd:// needs a host: nbd://HOST[:PORT]/EXPORT');
  const port = url.port === '' ? nbdDefaultPort : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw fail(`the port "${url.port}" is not a TCP port`);
  return { transport: 'tcp', host, port, exportName };
}

/** The address as a URI again, for messages. */
export function formatNbdAddress(address: NbdAddress): string {
  const name = encodeURIComponent(address.exportName).replace(/%2F/g, '/');
  if (address.transport === 'unix') return `nbd+unix:///${name}?socket=${address.socketPath}`;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `nbd://${host}${address.port === nbdDefaultPort ? '' : `:${address.port}`}/${name}`;
}
