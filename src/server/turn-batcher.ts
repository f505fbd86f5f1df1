import type {Socket} from 'net';
import WebSocket from 'ws';

import {atEndOfTurn} from './end-of-turn';
import {encodeTextFrame} from './text-frame';

/** Told once for the frames of a socket that were written together: whether that failed, and how many they were */
export type FramesWritten = (error: Error | null | undefined, frames: number) => void;

/** What a client needs of the batcher */
export interface TurnWrites {
    beforeWrite(socket: WebSocket): boolean;
    frameOf(text: string): Buffer;
    queue(socket: WebSocket, frame: Buffer, written: FramesWritten): void;
    flushSocket(socket: WebSocket): void;
    discard(socket: WebSocket): void;
}

type Queued = {
    readonly frames: Array<Buffer>;
    bytes: number;
    readonly written: FramesWritten;
};

const kLastTurn = Symbol('mashroom-websocket-last-turn');
const kQueued = Symbol('mashroom-websocket-queued');

type TrackedSocket = WebSocket & {
    [kLastTurn]?: number;
    [kQueued]?: Queued | null;
};

/** The TCP (or TLS) socket under a WebSocket */
export type RawSocket = Socket & {readonly encrypted?: boolean};

// ws has no public handle on its TCP socket
export const rawSocket = (socket: WebSocket): RawSocket | null => (socket as unknown as {readonly _socket?: RawSocket | null})._socket ?? null;

export const isOpen = (socket: WebSocket): boolean => socket.readyState === WebSocket.OPEN;

/**
 * Batches the text frames sent to a socket within one synchronous run of code (a "turn": up to the next
 * microtask checkpoint) into one system call. The first frame of a turn goes out at once, as it would
 * without us: a single message per socket, as in a broadcast, costs nothing extra and reaches the peer
 * while the loop goes on. The later ones of the turn are queued here and written at the end of the turn as
 * one buffer. A burst of K messages to N clients then costs 2 × N system calls instead of K × N.
 *
 * Frames are encoded here, once per text and turn (`frameOf`): unmasked, the frame of a text is the same bytes
 * for every client, so a message sent to many clients in a row is encoded once and the one buffer written to
 * each of their sockets (ws would encode it, and make a header, for each). A queued frame is an array slot, and
 * each socket gets one callback per turn for all its queued frames.
 *
 * Why not cork the socket and let ws write: a corked socket keeps a write request, a frame header buffer and
 * a callback per frame until the end of the turn. A burst to many clients holds K × N of them at once, more
 * than the young generation of the heap takes, and the garbage collector then costs more than the writes.
 *
 * What makes writing frames next to ws safe: ws writes unmasked, uncompressed frames straight to its socket,
 * and with `perMessageDeflate: false` (as the server is configured) it never queues one itself (it would
 * for a Blob, which we never give it), so frames written here cannot overtake or split one of its own. What
 * we write through ws ourselves must not overtake the queued frames: `flushSocket` before a ping (its pong
 * acknowledges what was sent before it), a close frame or a keep-alive. ws also writes on its own while it
 * handles input, and it handles all frames of one chunk in one turn: a listener's queued replies to a
 * message may be overtaken by ws's pong to a ping that followed the message. That is harmless: the peer's
 * pings acknowledge nothing here, and a pong may come between any two messages. If ws answers a close frame
 * instead, the socket is closing, and nothing may follow a close frame: queued frames of a socket that began
 * to close are not written; they count as failed.
 */
export class TurnBatcher implements TurnWrites {

    private turn = 0;
    private queued: Array<TrackedSocket> = [];
    private scheduled = false;
    // The last text encoded in this turn and its frame: a message sent to many clients in a row is encoded once
    private lastText: string | null = null;
    private lastFrame: Buffer | null = null;
    private readonly endOfTurn = (): void => this.flush();

    /**
     * Call before sending a text frame to the socket. True for the first frame of this turn (and whenever
     * the socket is not open): write it at once; what the socket still has to send was left over from earlier
     * turns. False for a later one: `queue` it.
     */
    beforeWrite(webSocket: WebSocket): boolean {
        const socket = webSocket as TrackedSocket;
        if (!isOpen(socket)) {
            return true;
        }
        if (socket[kLastTurn] !== this.turn) {
            socket[kLastTurn] = this.turn;
            this.schedule();
            return true;
        }
        return false;
    }

    /** The frame of `text` to write or queue in this turn */
    frameOf(text: string): Buffer {
        let frame = this.lastFrame;
        if (frame === null || text !== this.lastText) {
            frame = encodeTextFrame(text);
            this.lastText = text;
            this.lastFrame = frame;
            // Let go of it at the end of the turn
            this.schedule();
        }
        return frame;
    }

    /** Queue a frame (of `frameOf`) to go out with the others of this turn; `written` is told when they are out */
    queue(webSocket: WebSocket, frame: Buffer, written: FramesWritten): void {
        const socket = webSocket as TrackedSocket;
        let queued = socket[kQueued];
        if (!queued) {
            queued = {frames: [], bytes: 0, written};
            socket[kQueued] = queued;
            this.queued.push(socket);
            this.schedule();
        }
        queued.frames.push(frame);
        queued.bytes += frame.length;
    }

    /** Write what is queued for the socket now: call it before writing anything else to the socket */
    flushSocket(webSocket: WebSocket): void {
        const socket = webSocket as TrackedSocket;
        const queued = socket[kQueued];
        if (queued) {
            socket[kQueued] = null;
            writeQueued(socket, queued);
        }
    }

    /** Forget what is queued for the socket: its connection is given up, and what was queued with it */
    discard(webSocket: WebSocket): void {
        const socket = webSocket as TrackedSocket;
        if (socket[kQueued]) {
            socket[kQueued] = null;
        }
    }

    /** End the turn now: write what was queued (also done at the end of every turn with writes) */
    flush(): void {
        this.scheduled = false;
        this.turn++;
        this.lastText = null;
        this.lastFrame = null;
        if (this.queued.length === 0) {
            // The common turn (one frame per socket): nothing to allocate
            return;
        }
        const sockets = this.queued;
        this.queued = [];
        for (const socket of sockets) {
            this.flushSocket(socket);
        }
    }

    private schedule(): void {
        if (!this.scheduled) {
            this.scheduled = true;
            atEndOfTurn(this.endOfTurn);
        }
    }
}

const writeQueued = (socket: TrackedSocket, queued: Queued): void => {
    const count = queued.frames.length;
    const raw = rawSocket(socket);
    if (!isOpen(socket) || !raw || raw.destroyed) {
        queued.written(new Error('WebSocket is not open'), count);
        return;
    }
    let data: Buffer;
    try {
        data = Buffer.allocUnsafe(queued.bytes);
    } catch (error) {
        // More than a Buffer can hold: these frames cannot go out, and nothing may go out after them
        socket.terminate();
        queued.written(error instanceof Error ? error : new Error(String(error)), count);
        return;
    }
    let offset = 0;
    for (const frame of queued.frames) {
        offset += frame.copy(data, offset);
    }
    raw.write(data, (error) => queued.written(error, count));
};
