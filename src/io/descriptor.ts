/**
 * A Descriptor is the identity of one open of one fd number: the number plus an `openId` that is
 * never reused. Backends receive descriptors, not numbers, so a simulator can prove that no
 * operation ever reached an fd number after it was closed and handed to another open.
 *
 * Internal to io/: no public API takes or returns a Descriptor or its number (rule H1).
 */
export interface Descriptor {
  readonly fd: number;
  readonly openId: number;
  /** For messages only: the path given at open, or a label such as "<stdin>". */
  readonly path: string;
}

let nextOpenId = 1;

export function newDescriptor(fd: number, path: string): Descriptor {
  return Object.freeze({ fd, openId: nextOpenId++, path });
}
