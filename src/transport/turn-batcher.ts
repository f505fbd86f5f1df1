import type {EndOfTurn} from './end-of-turn';
import {encodeTextFrame} from './text-frame';
import type {RawSocket} from './ws-adapter';

/** Told once for the frames of a connection that were written together: whether that failed, and how many they were */
export type FramesWritten = (error: Error | null | undefined, frames: number) => void;

export type QueuedFrames = {
    readonly frames: Array<Buffer>;
    bytes: number;
    readonly written: FramesWritten;
};

/** A connection as the batcher sees it. The two slots are the batcher's: kept there, nothing is looked up per frame */
export interface Batched {
    /** The turn of the batcher in which the connection was last written to */
    turn: number;
    /** Frames queued in this turn, to be written at its end */
    queued: QueuedFrames | null;
    /** Where frames are written; null for a connection whose frames go through ws (nothing is queued for it) */
    readonly raw: RawSocket | null;
    /** Whether frames may still be written (its WebSocket is open) */
    readonly writable: boolean;
    /** Cut the connection off */
    terminate(): void;
}

/**
 * Batches the text frames written to a connection within one synchronous run of code (a turn) into one system
 * call: the first frame of a turn goes out at once, the later ones are queued and written together at its end;
 * and encodes a text once per turn, however many connections it is written to. Why, and what makes it safe to
 * write next to ws: docs/ARCHITECTURE.md, "Write path".
 */
export class TurnBatcher {

    #turn = 0;
    #queued: Array<Batched> = [];
    #scheduled = false;
    // The last text encoded in this turn and its frame: a message sent to many clients in a row is encoded once
    #lastText: string | null = null;
    #lastFrame: Buffer | null = null;
    readonly #endOfTurn = (): void => this.flush();

    constructor(private readonly turns: EndOfTurn) {
    }

    /**
     * Call before writing a text frame to the connection. True for the first frame of this turn (and whenever
     * the connection is not writable): write it at once; what the socket still has to send was left over from
     * earlier turns. False for a later one: `queue` it.
     */
    beforeWrite(connection: Batched): boolean {
        if (!connection.writable) {
            return true;
        }
        if (connection.turn !== this.#turn) {
            connection.turn = this.#turn;
            this.#schedule();
            return true;
        }
        return false;
    }

    /** The frame of `text` to write or queue in this turn */
    frameOf(text: string): Buffer {
        let frame = this.#lastFrame;
        if (frame === null || text !== this.#lastText) {
            frame = encodeTextFrame(text);
            this.#lastText = text;
            this.#lastFrame = frame;
            // Let go of it at the end of the turn
            this.#schedule();
        }
        return frame;
    }

    /** Queue a frame (of `frameOf`) to go out with the others of this turn; `written` is told when they are out */
    queue(connection: Batched, frame: Buffer, written: FramesWritten): void {
        let queued = connection.queued;
        if (!queued) {
            queued = {frames: [], bytes: 0, written};
            connection.queued = queued;
            this.#queued.push(connection);
            this.#schedule();
        }
        queued.frames.push(frame);
        queued.bytes += frame.length;
    }

    /** Write what is queued for the connection now: call it before anything else is written to its socket */
    flushConnection(connection: Batched): void {
        const queued = connection.queued;
        if (queued) {
            connection.queued = null;
            writeQueued(connection, queued);
        }
    }

    /** End the turn now: write what was queued (also done at the end of every turn with writes) */
    flush(): void {
        this.#scheduled = false;
        this.#turn++;
        this.#lastText = null;
        this.#lastFrame = null;
        if (this.#queued.length === 0) {
            // The common turn (one frame per connection): nothing to allocate
            return;
        }
        const connections = this.#queued;
        this.#queued = [];
        for (const connection of connections) {
            this.flushConnection(connection);
        }
    }

    #schedule(): void {
        if (!this.#scheduled) {
            this.#scheduled = true;
            this.turns.atEnd(this.#endOfTurn);
        }
    }
}

const writeQueued = (connection: Batched, queued: QueuedFrames): void => {
    const count = queued.frames.length;
    const raw = connection.raw;
    if (!connection.writable || !raw || raw.destroyed) {
        // A connection that began to close in this turn: nothing may follow its close frame
        queued.written(new Error('WebSocket is not open'), count);
        return;
    }
    let data: Buffer;
    try {
        data = Buffer.allocUnsafe(queued.bytes);
    } catch (error) {
        // More than a Buffer can hold: these frames cannot go out, and nothing may go out after them
        connection.terminate();
        queued.written(error instanceof Error ? error : new Error(String(error)), count);
        return;
    }
    let offset = 0;
    for (const frame of queued.frames) {
        offset += frame.copy(data, offset);
    }
    raw.write(data, (error) => queued.written(error, count));
};
