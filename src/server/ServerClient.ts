import type WebSocket from 'ws';
import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {MashroomSecurityUser} from '@mashroom/mashroom-security/type-definitions';
import type {MashroomWebSocketClient} from '../../type-definitions';
import {ClientBufferQueue} from '../buffer/ClientBufferQueue';
import type {ReconnectBufferStore} from '../buffer/ReconnectBufferStore';
import {isOpen, writeFrame} from './write-frame';

/**
 * - open: connected, messages go to the socket
 * - resuming: reconnected, the buffered messages are being replayed; new messages queue behind them
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
    /** Backlog of unsent bytes beyond which a client is too slow */
    readonly maxUnsentBytes: number;
    /** How long a closing socket may take before it is cut off */
    readonly closeGraceMs: number;
    contextLogger(client: ServerClient): MashroomLogger;
    /** Batch the writes to this socket until the end of the turn */
    cork(socket: WebSocket): void;
    /** The reconnect window of a waiting client has passed */
    reconnectWindowPassed(client: ServerClient): void;
    /** The client's reconnect buffer overflowed: it can no longer resume in full */
    bufferOverflowed(client: ServerClient): void;
}

/** A message accepted by sendMessage whose promise is still open */
type Pending = {
    readonly data: string;
    readonly resolve: () => void;
    readonly reject: (error: Error) => void;
};

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
 * of everything sent later; without buffering their sends reject. Nothing accepted is silently lost.
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
    // Written (or held back) while connected, write not yet completed; oldest first
    #unconfirmed: Array<Pending> = [];
    // Sent during a replay, to follow it
    #resumeQueue: Array<Pending> | null = null;

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

    send(data: string): Promise<void> {
        switch (this.#state) {
            case 'open':
                return new Promise((resolve, reject) => this.deliver({data, resolve, reject}));
            case 'resuming':
                return new Promise((resolve, reject) => this.#resumeQueue?.push({data, resolve, reject}));
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
     * Take a waiting client over to a new socket: send its id again, replay the buffer in order, then the
     * messages sent during the replay, and delete the buffer once the replay is written.
     */
    async resume(socket: WebSocket): Promise<void> {
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
        socket.send(setClientIdFrame(this.clientId));

        const buffer = this.#buffer;
        let replay: Array<string> = [];
        if (buffer) {
            try {
                replay = await buffer.readAll();
            } catch (error) {
                this.#host.contextLogger(this).error(`Reading the reconnect buffer of client ${this.clientId} failed; closing so that it retries`, error);
                if (this.#epoch === epoch) {
                    socket.close(1011, 'Reconnect buffer unavailable');
                }
                return;
            }
        }
        if (this.#epoch !== epoch) {
            // Dropped again while reading: the buffer is untouched and the queue went into it
            return;
        }
        // The replay is not kept as unconfirmed: until the buffer is deleted below, it is still in there
        let lastReplayWrite: Promise<void> = Promise.resolve();
        this.#host.cork(socket);
        for (const data of replay) {
            lastReplayWrite = writeFrame(socket, data);
        }
        this.#resumeQueue = null;
        this.#state = 'open';
        queue.forEach((message) => this.deliver(message));
        this.#host.contextLogger(this).info(`Client ${this.clientId} resumed, ${replay.length} buffered message(s) replayed`);

        if (buffer) {
            try {
                // Frames are written in order: when the last one is out, all are
                await lastReplayWrite;
            } catch {
                // The socket died during the replay; the buffer stays for the next attempt
                return;
            }
            if (this.#epoch === epoch) {
                await buffer.remove();
            }
        }
    }

    /** Remove the client for good: close the socket (if any) with the given code, drop its buffer */
    close(code: number, reason: string): void {
        if (this.#state === 'closed') {
            return;
        }
        const socket = this.#socket;
        this.#state = 'closed';
        this.#socket = null;
        this.#epoch++;
        this.alive = false;
        this.clearReconnectTimer();
        this.takeUndelivered().forEach((message) => message.reject(new ClientGoneError(this.clientId)));
        if (socket) {
            socket.close(code, reason);
        }
        this.discardBuffer();
    }

    /** The reconnect window passed: forget the client and its buffer */
    expire(): void {
        this.close(1000, '');
    }

    /** Resolves when every buffer operation asked for so far has finished */
    buffered(): Promise<void> {
        return this.#buffer ? this.#buffer.settled() : Promise.resolve();
    }

    /** Write a message to the open socket, or hold it back if the socket is closing or the client too slow */
    private deliver(message: Pending): void {
        const socket = this.#socket;
        this.#unconfirmed.push(message);
        if (!socket || !isOpen(socket)) {
            // Closing: the close event will put it into the buffer (or reject it)
            return;
        }
        if (socket.bufferedAmount > this.#host.maxUnsentBytes) {
            this.closeAsTooSlow(socket);
            return;
        }
        this.#host.cork(socket);
        socket.send(message.data, (error) => {
            if (error) {
                // The socket is going down; its close event puts the message into the buffer (or rejects it)
                return;
            }
            const unconfirmed = this.#unconfirmed;
            // Write callbacks come in write order, so this is nearly always the head
            const index = unconfirmed[0] === message ? 0 : unconfirmed.indexOf(message);
            if (index !== -1) {
                unconfirmed.splice(index, 1);
            }
            message.resolve();
        });
    }

    /** A client that does not read must not make us hold its messages in memory without bound */
    private closeAsTooSlow(socket: WebSocket): void {
        this.#host.contextLogger(this).warn(`Client ${this.clientId} has ${socket.bufferedAmount} bytes not yet sent, more than ${this.#host.maxUnsentBytes}: closing it as too slow (1013)`);
        socket.close(CLOSE_TRY_AGAIN_LATER, 'Client too slow');
        // A peer that does not read will not answer the close either
        const cutOff = setTimeout(() => socket.terminate(), this.#host.closeGraceMs);
        cutOff.unref();
        socket.once('close', () => clearTimeout(cutOff));
    }

    /** The messages not delivered yet, oldest first; they are no longer kept here */
    private takeUndelivered(): Array<Pending> {
        const undelivered = this.#unconfirmed;
        this.#unconfirmed = [];
        if (this.#resumeQueue) {
            undelivered.push(...this.#resumeQueue);
            this.#resumeQueue = null;
        }
        return undelivered;
    }

    private bufferQueue(store: ReconnectBufferStore): ClientBufferQueue {
        if (!this.#buffer) {
            this.#buffer = new ClientBufferQueue(store, this.clientId, this.#host.bufferMaxBytes, () => {
                // Deferred: the overflow is noticed inside an append, possibly while the client is changing state
                process.nextTick(() => this.#host.bufferOverflowed(this));
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
