/**
 * A deliberately small NBD client for protocol tests: it sends exactly the bytes a test asks for
 * (built with the codecs of src/format/nbd/, including wrong ones) and reads the server's answers
 * one at a time. Not a client to use: no checks beyond what a test asserts itself.
 */
import { connect, type Socket } from 'node:net';
import { decodeGreeting, decodeOptionReplyHeader, encodeGoPayload, encodeOptionRequest, greetingBytes, optionReplyHeaderBytes, type OptionReplyHeader } from '../format/nbd/client-codec.js';
import { clientFlag, magic, option, reply, replyFlag, replyType, simpleReplyHeaderBytes } from '../format/nbd/protocol.js';
import { encodeRequest, type NbdRequest } from '../format/nbd/transmission-codec.js';
import { SocketReader } from '../blockdev/socket-reader.js';

export interface RawReply {
  cookie: bigint;
  /** 0, or the errno of the simple reply or of the error chunk. */
  errorNumber: number;
  /** A READ's data (holes as zeros); empty for other requests. */
  data: Buffer;
}

export class RawNbdClient {
  readonly socket: Socket;
  readonly #reader: SocketReader;
  readonly #closed: Promise<void>;
  /** Cookie -> [offset, length] of READs in flight, to place data and hole chunks. */
  readonly #reads = new Map<bigint, { offset: bigint; lengthBytes: number }>();

  private constructor(socket: Socket) {
    this.socket = socket;
    this.#reader = new SocketReader(socket, { queuedBytesMax: 64 * 1024 * 1024 });
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {}); // a test sees a failure as the connection closing
  }

  /** Connects and answers the greeting with FIXED_NEWSTYLE | NO_ZEROES. */
  static async connect(socketPath: string): Promise<RawNbdClient> {
    const socket = connect(socketPath);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawNbdClient(socket);
    decodeGreeting(await client.#reader.read(greetingBytes));
    const flags = Buffer.alloc(4);
    flags.writeUInt32BE(clientFlag.fixedNewstyle | clientFlag.noZeroes);
    socket.write(flags);
    return client;
  }

  sendOption(code: number, data?: Buffer): void {
    this.socket.write(encodeOptionRequest(code, data));
  }

  async readOptionReply(): Promise<OptionReplyHeader & { data: Buffer }> {
    const header = decodeOptionReplyHeader(await this.#reader.read(optionReplyHeaderBytes));
    return { ...header, data: await this.#reader.read(header.dataBytes) };
  }

  /** STRUCTURED_REPLY (when asked) then GO; throws unless both are acknowledged. */
  async go(exportName = '', options: { structured: boolean } = { structured: true }): Promise<void> {
    if (options.structured) {
      this.sendOption(option.structuredReply);
      const answer = await this.readOptionReply();
      if (answer.replyType !== reply.ack) throw new Error(`STRUCTURED_REPLY got reply type 0x${answer.replyType.toString(16)}`);
    }
    this.sendOption(option.go, encodeGoPayload(exportName, []));
    for (;;) {
      const answer = await this.readOptionReply();
      if (answer.replyType === reply.ack) return;
      if (answer.replyType !== reply.info) throw new Error(`GO got reply type 0x${answer.replyType.toString(16)}: ${answer.data.toString('utf8')}`);
    }
  }

  /** Sends one request (and a WRITE's payload). */
  send(request: NbdRequest, payload?: Buffer): void {
    if (request.type === 0) this.#reads.set(request.cookie, { offset: request.offset, lengthBytes: request.lengthBytes });
    this.socket.write(payload === undefined ? encodeRequest(request) : Buffer.concat([encodeRequest(request), payload]));
  }

  /** The next complete reply (a structured one's chunks are read until the DONE flag). */
  async readReply(): Promise<RawReply> {
    const head = await this.#reader.read(simpleReplyHeaderBytes);
    if (head.readUInt32BE(0) === magic.simpleReply) {
      const cookie = head.readBigUInt64BE(8);
      const errorNumber = head.readUInt32BE(4);
      const read = this.#reads.get(cookie);
      this.#reads.delete(cookie);
      const data = read !== undefined && errorNumber === 0 ? await this.#reader.read(read.lengthBytes) : Buffer.alloc(0);
      return { cookie, errorNumber, data };
    }
    if (head.readUInt32BE(0) !== magic.structuredReply) throw new Error(`a reply has the magic 0x${head.readUInt32BE(0).toString(16)}`);
    let chunkHead: Buffer = Buffer.concat([head, await this.#reader.read(4)]);
    const cookie = chunkHead.readBigUInt64BE(8);
    const read = this.#reads.get(cookie);
    this.#reads.delete(cookie);
    const data = Buffer.alloc(read?.lengthBytes ?? 0);
    let errorNumber = 0;
    for (;;) {
      const flags = chunkHead.readUInt16BE(4);
      const type = chunkHead.readUInt16BE(6);
      if (chunkHead.readBigUInt64BE(8) !== cookie) throw new Error('structured reply chunks of two requests are interleaved');
      const payload = await this.#reader.read(chunkHead.readUInt32BE(16));
      if (type === replyType.offsetData && read !== undefined) payload.copy(data, Number(payload.readBigUInt64BE(0) - read.offset), 8);
      else if ((type & 0x8000) !== 0) errorNumber = payload.readUInt32BE(0);
      if ((flags & replyFlag.done) !== 0) return { cookie, errorNumber, data };
      chunkHead = await this.#reader.read(20);
    }
  }

  /**
   * Reads nothing more from the socket: the replies pile up in the kernel's buffers and then in
   * the server, as with a client that sends requests and never reads the answers.
   */
  stopReading(): void {
    this.socket.pause();
  }

  /** Resolves when the server has closed the connection (it must, or the test times out). */
  closed(): Promise<void> {
    return this.#closed;
  }

  async close(): Promise<void> {
    this.socket.destroy();
    await this.#closed;
  }
}
