/**
 * The socket a plain (non-TLS) replication connection runs on: the kernel reads straight into
 * receive slabs (net.Socket `onread`), FrameReader frames the bytes, pg gets its frames through
 * the 'data' events it listens to (copies, whole frames only), and CopyData payloads go to
 * `onCopyData` as views. A TLS connection runs on pg's own socket instead (../source-client.ts):
 * its CopyData then arrives as pg's 'copyData' events.
 */
import net from 'node:net';
import type { PitrdError } from '../../errors.js';
import { FrameReader, type FrameReaderOptions } from './frame-reader.js';
import type { SlabHold } from './recv-slabs.js';

export function framedSocket(onCopyData: (payload: Buffer, slab: SlabHold) => void, opts: FrameReaderOptions = {}): net.Socket {
  let socket: net.Socket | null = null;
  const fail = (err: Error | PitrdError) => socket!.destroy(err);
  const reader = new FrameReader((frames) => socket!.emit('data', frames), onCopyData, fail, opts);
  // `onread` is honoured by the Socket constructor (Node ≥ 12); @types/node lists it for connect() only.
  socket = new net.Socket({
    onread: {
      buffer: () => reader.nextBuffer(),
      callback: (n: number) => {
        try {
          reader.onRead(n);
        } catch (err) {
          // A consumer threw (pg's parser, a CopyData handler): the stream cannot go on.
          fail(err instanceof Error ? err : new Error(String(err)));
          return false;
        }
        return true;
      },
    },
  } as net.SocketConstructorOpts);
  return socket;
}
