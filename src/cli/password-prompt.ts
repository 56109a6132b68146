/**
 * A password typed on the terminal, not echoed. Only used when stdin is a terminal and no
 * password was given any other way.
 */
export async function readPasswordFromTerminal(prompt: string): Promise<Buffer> {
  process.stderr.write(prompt);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const typed: number[] = [];
      const onData = (bytes: Buffer): void => {
        for (const byte of bytes) {
          if (byte === 0x0d || byte === 0x0a) {
            stdin.off('data', onData);
            resolve(Buffer.from(typed));
            return;
          }
          if (byte === 0x03) {
            stdin.off('data', onData);
            reject(new Error('interrupted'));
            return;
          }
          if (byte === 0x7f || byte === 0x08) typed.pop();
          else typed.push(byte);
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}
