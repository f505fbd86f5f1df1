import type WebSocket from 'ws';
import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {MashroomSecurityUser} from '@mashroom/mashroom-security/type-definitions';
import type {MashroomWebSocketClient} from '../../type-definitions';
import type {BufferBudget} from '../buffer/BufferBudget';
import {ClientBufferQueue} from '../buffer/ClientBufferQueue';
import {BufferLostError} from '../buffer/ReconnectBufferStore';
import type {ReconnectBufferStore} from '../buffer/ReconnectBufferStore';
import {isOpen, writeFrame} from './write-frame';

/**
 * - open: connected, messages go to the socket
 * - resuming: reconnected, the buffered messages are being read and replayed; new messages queue behind them
 * - waiting: disconnected within the reconnect window, messages go to the reconnect buffer
 * - closed: gone for good
 */
export type ClientState = 'open' | 'resuming' | 'waiting' | 'closed';

export const CLOSE_TRY_AGAIN_LATER = 1013;

/** What every client of one server shares: a single object, not a copy per client. */
export interface ClientHost {
    /** null when reconnect buffering is off */
    readonly bufferStore: ReconnectBufferStore | null;
    readonly reconnectTimeoutMs: number;
    /** Largest reconnect buffer of one client */
    readonly bufferMaxBytes: number;
    /** What all reconnect buffers together may take */
    readonly bufferBudget: BufferBudget;
    /** Backlog of unsent bytes beyond which a client is too slow */
    readonly maxUnsentBytes: number;
    contextLogger(client: ServerClient): MashroomLogger;
    /**
     * Call before each write: batches the writes to a socket within one turn. True for the first write of
     * the turn: only then is the socket's backlog what earlier turns left unsent
     */
    beforeWrite(socket: WebSocket): boolean;
    /** The reconnect window of a waiting client has passed */
    reconnectWindowPassed(client: ServerClient): void;
    /** The client's reconnect buffer overflowed or broke: it can no longer resume in full */
    bufferUnusable(client: ServerClient, reason: Error): void;
}

/** A message accepted by sendMessage whose promise is still open */
class Pending {
    readonly promise: Promise<void>;
    resolve!: () => void;
    reject!: (error: Error) => void;
    /** Number of the write that carries it, 0 while it is held back */
    seq = 0;

    constructor(readonly data: string) {
        this.promise = new Promise((resolve, reject) => {
            this.resolve = resolve;
            this.reject = reject;
        });
    }
}

const RESOLVED: Promise<void> = Promise.resolve();

type WebSocketInternals = {readonly _socket?: {readonly writableLength: number; readonly writableCorked: number} | null};

/** Whether everything written to the socket so far went straight to the operating system */
const isWrittenThrough = (socket: WebSocket): boolean => {
    const raw = (socket as unknown as WebSocketInternals)._socket;
    return !!raw && raw.writableLength === 0 && raw.writableCorked === 0;
};

export type ResumeOutcome = 'resumed' | 'lost' | 'interrupted';

export class ClientGoneError extends Error {
    constructor(clientId: string) {
        super(`WebSocket client ${clientId} is closed`);
        this.name = 'ClientGoneError';
    }
}

export const setClientIdFrame = (clientId: string): string => JSON.stringify({type: 'setClientId', payload: clientId});

/**
 * One client as the plugins see it (the public fields) and its delivery state (the private ones, which
 * stay out of logs and JSON). The object lives as long as the client, across reconnects, because
 * plugins keep it as a key (the messaging plugin keeps its subscriptions per client object).
 *
 * Delivery: a message sent while connected is written to the socket and kept until the write has completed.
 * If the connection drops first, the messages still kept go into the reconnect buffer, in order, ahead
 * of everything sent later; without buffering their sends reject.
 */
export class ServerClient implements MashroomWebSocketClient {

    alive = true;

    readonly #host: ClientHost;
    #socket: WebSocket | null;
    #state: ClientState = 'open';
    // Bumped whenever the socket changes, so a replay that outlived its socket notices
    #epoch = 0;
    #reconnectTimer: NodeJS.Timeout | null = null;
    #buffer: ClientBufferQueue | null = null;
    // Written (or held back) while connected, write not yet completed; oldest first. Created on first use:
    // an idle client costs no array. A write the operating system took at once is not kept at all
    #unconfirmed: Array<Pending> | null = null;
    // Writes of messages handed to ws, and write callbacks received; equal again after every drop
    #writeSeq = 0;
    #confirmedSeq = 0;
    // Bytes held back because the socket is closing (nothing can be written any more)
    #heldBytes = 0;
    // Sent during a resume, to follow the replay
    #resumeQueue: Array<Pending> | null = null;
    // One write callback for all messages of this client, made on first use: no closure per message.
    // Write callbacks come in write order, so counting them tells which writes have completed
    #onWritten: ((error?: Error | null) => void) | null = null;

    constructor(
        host: ClientHost,
        socket: WebSocket,
        readonly connectPath: string,
        readonly user: MashroomSecurityUser,
        readonly loggerContext: Readonly<Record<string, unknown>>,
        readonly clientId: string,
    ) {
        this.#host = host;
        this.#socket = socket;
    }

    get socket(): WebSocket | null {
        return this.#socket;
    }

    get state(): ClientState {
        return this.#state;
    }

    /** Whether this is a client of that host and not closed, i.e. registered there (a closed client never is) */
    isServedBy(host: ClientHost): boolean {
        return this.#host === host && this.#state !== 'closed';
    }

    send(data: string): Promise<void> {
        switch (this.#state) {
            case 'open':
                return this.deliver(data, null);
            case 'resuming': {
                const pending = new Pending(data);
                this.#resumeQueue?.push(pending);
                return pending.promise;
            }
            case 'waiting':
                return this.#buffer ? this.#buffer.append(data) : Promise.reject(new ClientGoneError(this.clientId));
            default:
                return Promise.reject(new ClientGoneError(this.clientId));
        }
    }

    /**
     * The socket closed without us closing it. With buffering on, wait for a reconnect and return true;
     * otherwise the client is gone and false is returned.
     */
    socketDropped(): boolean {
        const store = this.#host.bufferStore;
        this.#socket = null;
        this.#epoch++;
        this.alive = false;
        const undelivered = this.takeUndelivered();
        if (!store) {
            this.#state = 'closed';
            undelivered.forEach((message) => message.reject(new ClientGoneError(this.clientId)));
            return false;
        }
        this.#state = 'waiting';
        const buffer = this.bufferQueue(store);
        undelivered.forEach((message) => buffer.append(message.data).then(message.resolve, message.reject));
        this.#reconnectTimer = setTimeout(() => this.#host.reconnectWindowPassed(this), this.#host.reconnectTimeoutMs);
        this.#reconnectTimer.unref();
        return true;
    }

    /**
     * Take a waiting client over to a new socket: read the buffer, and if it is complete send the client
     * its id again, replay the buffer in order, then the messages sent meanwhile, and delete the buffer
     * once the replay is written. 'lost': the buffer is not complete and nothing was sent; the caller
     * gives this client up and serves the socket as a new client. 'interrupted': the socket went away.
     */
    async resume(socket: WebSocket): Promise<ResumeOutcome> {
        if (this.#state !== 'waiting') {
            throw new Error(`Cannot resume client ${this.clientId} in state ${this.#state}`);
        }
        this.clearReconnectTimer();
        this.#socket = socket;
        this.#state = 'resuming';
        this.alive = true;
        const epoch = ++this.#epoch;
        const queue: Array<Pending> = [];
        this.#resumeQueue = queue;

        const buffer = this.#buffer;
        let replay: Array<string> = [];
        if (buffer) {
            try {
                replay = await buffer.readAll();
            } catch (error) {
                if (this.#epoch !== epoch) {
                    return 'interrupted';
                }
                if (error instanceof BufferLostError) {
                    return 'lost';
                }
                this.#host.contextLogger(this).error(`Reading the reconnect buffer of client ${this.clientId} failed; closing so that it retries`, error);
                socket.close(1011, 'Reconnect buffer unavailable');
                return 'interrupted';
            }
        }
        if (this.#epoch !== epoch) {
            // Dropped again while reading: the buffer is untouched and the queue went into it
            return 'interrupted';
        }
        this.#host.beforeWrite(socket);
        socket.send(setClientIdFrame(this.clientId));
        // The replay is not kept as unconfirmed: until the buffer is deleted below, it is still in there
        let lastReplayWrite: Promise<void> = Promise.resolve();
        for (const data of replay) {
            this.#host.beforeWrite(socket);
            lastReplayWrite = writeFrame(socket, data);
        }
        this.#resumeQueue = null;
        this.#state = 'open';
        queue.forEach((message) => this.deliver(message.data, message));
        this.#host.contextLogger(this).info(`Client ${this.clientId} resumed, ${replay.length} buffered message(s) replayed`);

        if (buffer) {
            try {
                // Frames are written in order: when the last one is out, all are
                await lastReplayWrite;
            } catch {
                // The socket died during the replay; the buffer stays for the next attempt
                return 'interrupted';
            }
            if (this.#epoch === epoch) {
                await buffer.remove();
            }
        }
        return 'resumed';
    }

    /** Remove the client for good: close the socket (if any) with the given code, drop its buffer */
    close(code: number, reason: string): void {
        const socket = this.release();
        socket?.close(code, reason);
    }

    /**
     * Remove the client for good but leave its socket open, for the caller to serve as a new client.
     * Returns the socket.
     */
    release(): WebSocket | null {
        if (this.#state === 'closed') {
            return null;
        }
        const socket = this.#socket;
        this.#state = 'closed';
        this.#socket = null;
        this.#epoch++;
        this.alive = false;
        this.clearReconnectTimer();
        this.takeUndelivered().forEach((message) => message.reject(new ClientGoneError(this.clientId)));
        this.discardBuffer();
        return socket;
    }

    /** Resolves when every buffer operation asked for so far has finished */
    buffered(): Promise<void> {
        return this.#buffer ? this.#buffer.settled() : Promise.resolve();
    }

    /**
     * Write a message to the open socket, or hold it back if the socket is closing or the client too slow.
     * `pending` is the message's promise if it has one already (it waited for a replay).
     */
    private deliver(data: string, pending: Pending | null): Promise<void> {
        const socket = this.#socket;
        if (!socket || !isOpen(socket)) {
            return this.holdBack(socket, pending ?? new Pending(data));
        }
        if (this.#host.beforeWrite(socket) && socket.bufferedAmount > this.#host.maxUnsentBytes) {
            this.closeAsTooSlow(socket);
            return this.holdBack(socket, pending ?? new Pending(data));
        }
        const seq = ++this.#writeSeq;
        socket.send(data, this.#onWritten ??= (error) => {
            // On an error the socket is going down; its close event puts the message into the buffer (or rejects it)
            if (!error) {
                this.confirmWrite();
            }
        });
        if (isWrittenThrough(socket)) {
            // The operating system has it: as written as a write callback would say, and nothing to keep
            pending?.resolve();
            return pending ? pending.promise : RESOLVED;
        }
        const entry = pending ?? new Pending(data);
        entry.seq = seq;
        (this.#unconfirmed ??= []).push(entry);
        return entry.promise;
    }

    private confirmWrite(): void {
        const confirmed = ++this.#confirmedSeq;
        const unconfirmed = this.#unconfirmed;
        while (unconfirmed && unconfirmed.length > 0 && unconfirmed[0].seq !== 0 && unconfirmed[0].seq <= confirmed) {
            unconfirmed.shift()?.resolve();
        }
    }

    /**
     * The socket is closing: the close event will put the message into the buffer (or reject it). A peer
     * that holds a closing connection open must not make us hold messages without bound either.
     */
    private holdBack(socket: WebSocket | null, message: Pending): Promise<void> {
        (this.#unconfirmed ??= []).push(message);
        const before = this.#heldBytes;
        this.#heldBytes += Buffer.byteLength(message.data);
        // Once, when the bound is crossed
        if (socket && before <= this.#host.maxUnsentBytes && this.#heldBytes > this.#host.maxUnsentBytes) {
            this.#host.contextLogger(this).warn(`Client ${this.clientId} is closing but more than maxUnsentBytesPerClient (${this.#host.maxUnsentBytes}) is held for it: cutting it off`);
            socket.terminate();
        }
        return message.promise;
    }

    /** A client that does not read must not make us hold its messages in memory without bound */
    private closeAsTooSlow(socket: WebSocket): void {
        this.#host.contextLogger(this).warn(`Client ${this.clientId} has ${socket.bufferedAmount} bytes not yet sent, more than maxUnsentBytesPerClient (${this.#host.maxUnsentBytes}): closing it as too slow (1013)`);
        // ws cuts the connection off if the peer does not complete the close in time (closeTimeout)
        socket.close(CLOSE_TRY_AGAIN_LATER, 'Client too slow');
    }

    /** The messages not delivered yet, oldest first; they are no longer kept here */
    private takeUndelivered(): Array<Pending> {
        const undelivered = this.#unconfirmed ?? [];
        this.#unconfirmed = null;
        this.#heldBytes = 0;
        // Every write so far is settled now: confirmed, or among the undelivered
        this.#confirmedSeq = this.#writeSeq;
        if (this.#resumeQueue) {
            undelivered.push(...this.#resumeQueue);
            this.#resumeQueue = null;
        }
        return undelivered;
    }

    private bufferQueue(store: ReconnectBufferStore): ClientBufferQueue {
        if (!this.#buffer) {
            this.#buffer = new ClientBufferQueue(store, this.clientId, this.#host.bufferMaxBytes, this.#host.bufferBudget, (reason) => {
                // Deferred: noticed inside an append or read, possibly while the client is changing state
                process.nextTick(() => this.#host.bufferUnusable(this, reason));
            });
        }
        return this.#buffer;
    }

    private discardBuffer(): void {
        const buffer = this.#buffer;
        if (buffer) {
            buffer.remove().catch((error: unknown) => {
                this.#host.contextLogger(this).error(`Deleting the reconnect buffer of client ${this.clientId} failed`, error);
            });
        }
    }

    private clearReconnectTimer(): void {
        if (this.#reconnectTimer) {
            clearTimeout(this.#reconnectTimer);
            this.#reconnectTimer = null;
        }
    }
}
