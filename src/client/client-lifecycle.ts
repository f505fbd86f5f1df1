import type WebSocket from 'ws';
import {ClientBufferQueue} from '../buffer/client-buffer-queue';
import {BufferClaimedError} from '../buffer/reconnect-buffer-store';
import type {BufferedSession, ClaimedBuffer, ReconnectBufferStore} from '../buffer/reconnect-buffer-store';
import {envelope} from '../protocol/delivery-envelope';
import {CLOSE_INTERNAL_ERROR, CLOSE_NORMAL, CLOSE_TRY_AGAIN_LATER, setClientIdFrame} from '../protocol/wire';
import {ackAfterChars} from '../transport/flow-control';
import type {ClientConnection} from '../transport/connection';
import {ClientGoneError} from '../transport/pending-message';
import type {PendingMessage} from '../transport/pending-message';
import {settleClaim} from './claim-settlement';
import type {ClientHost} from './client-host';
import {CLOSED, newOutcome} from './client-state';
import type {Claim, ClientState, Resuming, ResumeOutcome} from './client-state';
import {HeldMessages} from './held-messages';
import type {ServerClient} from './server-client';

/** How the connection of a client that leaves its state is let go: closed with a code, handed over as it is, or already gone */
export type Release = {readonly code: number; readonly reason: string} | 'hand-over' | 'gone';

/** What a connection that went away leaves the client in */
export type LostOutcome = 'waiting' | 'claiming' | 'closed' | 'not-current';

/** How a client starts: connected on a socket, or claimed from another node */
export type Start = {readonly kind: 'connected'; readonly socket: WebSocket} | {readonly kind: 'elsewhere'};

const ignore = (): void => undefined;

/**
 * The lifecycle of one client: its state (one field, see client-state.ts and the diagram in
 * docs/ARCHITECTURE.md), changed only by the transitions here, the numbering of its messages and its reconnect
 * buffer. Held by its ServerClient, out of the plugins' reach.
 */
export class ClientLifecycle {

    readonly #client: ServerClient;
    readonly #host: ClientHost;
    #state: ClientState;
    // For a client of the delivery protocol: the number of its last message; null for plain clients
    #lastSeq: number | null;
    // Made when it first waits, and kept until it is closed: its operations must reach the store in order
    #buffer: ClientBufferQueue | null = null;

    constructor(client: ServerClient, host: ClientHost, sequenced: boolean, start: Start) {
        this.#client = client;
        this.#host = host;
        this.#lastSeq = sequenced ? 0 : null;
        this.#state = start.kind === 'connected'
            ? {kind: 'open', connection: host.connect(start.socket, client)}
            : {kind: 'claiming', held: new HeldMessages(client.clientId, host.bufferMaxBytes, 'being claimed'), claim: this.#claim(true)};
        client.alive = this.connection !== null;
    }

    get current(): ClientState {
        return this.#state;
    }

    get connection(): ClientConnection | null {
        const state = this.#state;
        return state.kind === 'open' || state.kind === 'resuming' ? state.connection : null;
    }

    get lastSeq(): number | null {
        return this.#lastSeq;
    }

    get host(): ClientHost {
        return this.#host;
    }

    get client(): ServerClient {
        return this.#client;
    }

    send(data: string): Promise<void> {
        const state = this.#state;
        if (state.kind === 'open') {
            return state.connection.deliver(this.#lastSeq === null ? data : envelope(++this.#lastSeq, data), null);
        }
        if (state.kind === 'resuming' || state.kind === 'claiming') {
            return state.held.hold(data);
        }
        if (state.kind === 'waiting' && this.#buffer) {
            return this.#buffer.append(this.#number(data));
        }
        return Promise.reject(new ClientGoneError(this.#client.clientId));
    }

    /** Transition: its socket closed (or is given up). With buffering on it waits for a reconnect; otherwise it is closed */
    connectionLost(connection: ClientConnection): LostOutcome {
        const state = this.#state;
        if ((state.kind !== 'open' && state.kind !== 'resuming') || state.connection !== connection) {
            return 'not-current';
        }
        if (state.kind === 'resuming' && state.claim.fromElsewhere) {
            // Not ours until the claim succeeds: it decides whether the client waits here or never existed here
            connection.detach();
            this.#enter({kind: 'claiming', held: state.held, claim: state.claim});
            return 'claiming';
        }
        const store = this.#host.bufferStore;
        if (!store?.available) {
            this.close('gone');
            return 'closed';
        }
        this.wait(store, 'connection', 'gone');
        return 'waiting';
    }

    /** Transition: a new connection takes over a waiting client, which resumes once its buffer is claimed */
    resume(socket: WebSocket, clientHas: number | null): Promise<ResumeOutcome> {
        const state = this.#state;
        if (state.kind !== 'waiting' && state.kind !== 'claiming') {
            return Promise.reject(new Error(`Cannot resume client ${this.#client.clientId} in state ${state.kind}`));
        }
        const outcome = newOutcome();
        this.#enter({
            kind: 'resuming',
            connection: this.#host.connect(socket, this.#client),
            held: state.kind === 'claiming' ? state.held : new HeldMessages(this.#client.clientId, this.#host.bufferMaxBytes, 'resuming'),
            claim: state.kind === 'claiming' ? state.claim : this.#claim(false),
            clientHas,
            outcome,
        });
        return outcome.promise;
    }

    /** Transition: the claim succeeded; the client gets its id again, the replay and what was held meanwhile */
    resumed(state: Resuming, frames: ReadonlyArray<string>, lastSeq: number | null): void {
        const {connection, held} = state;
        this.#lastSeq = lastSeq;
        connection.replay(this.idFrame(), frames);
        state.outcome.settle({kind: 'resumed'});
        this.#enter({kind: 'open', connection});
        // The replay is kept as unacknowledged on the connection now, so the buffer can go
        this.#removeBuffer();
        for (const message of held.take()) {
            message.data = this.#number(message.data);
            void connection.deliver(message.data, message);
        }
    }

    /** Transition to waiting: what the connection did not get across and what was held go into the buffer first */
    wait(store: ReconnectBufferStore, from: 'connection' | 'claim', release: Release, lastSeq = this.#lastSeq): void {
        this.#lastSeq = lastSeq;
        const {frames, pending} = this.#takeUndelivered(release);
        const opened = this.#bufferQueue(store).open(this.#session(), this.#host.reconnectTimeoutMs, frames);
        // The outcome is reported through the promises of the messages (and the buffer's own handling)
        opened.catch(ignore);
        pending.forEach((message) => opened.then(message.resolve, message.reject));
        const timer = setTimeout(() => this.#windowPassed(), this.#host.reconnectTimeoutMs);
        timer.unref();
        this.#enter({kind: 'waiting', timer, since: Date.now(), from});
    }

    /**
     * The one transition to closed: what it still holds is refused, its buffer deleted, its host told (`known`:
     * its disconnect listeners are called). Returns the socket if it is handed over.
     */
    close(release: Release, known = true): WebSocket | null {
        if (this.#state.kind === 'closed') {
            return null;
        }
        const {pending, socket} = this.#takeUndelivered(release);
        this.#enter(CLOSED);
        if (pending.length > 0) {
            const gone = new ClientGoneError(this.#client.clientId);
            pending.forEach((message) => message.reject(gone));
        }
        this.#removeBuffer();
        this.#host.clientClosed(this.#client, known);
        return socket;
    }

    /** Transition: another node of the cluster claimed it while it waited here. False if it was not waiting */
    resumedElsewhere(): boolean {
        if (this.#state.kind !== 'waiting') {
            return false;
        }
        this.#host.logger(this.#client).info(`Client ${this.#client.clientId} resumed on another node: removing it here`);
        this.close('gone');
        return true;
    }

    /** A fault during a resume: nothing is known to be complete, so the client is closed (1011) rather than left half-resumed */
    fail(error: unknown): void {
        this.#host.logger(this.#client).error(`Resuming client ${this.#client.clientId} failed: closing it (1011)`, error);
        const state = this.#state;
        if (state.kind === 'resuming') {
            state.outcome.settle({kind: 'failed'});
        }
        this.close({code: CLOSE_INTERNAL_ERROR, reason: 'Internal error'});
    }

    /** Resolves when every buffer operation asked for so far has finished */
    buffered(): Promise<void> {
        return this.#buffer ? this.#buffer.settled() : Promise.resolve();
    }

    /** Its setClientId; with buffering on, one of the delivery protocol says when to acknowledge at once */
    idFrame(): string {
        const sequenced = this.#lastSeq !== null;
        return setClientIdFrame(this.#client.clientId, sequenced, sequenced && this.#host.bufferStore ? ackAfterChars(this.#host.connections) : null);
    }

    /** Every state change goes through here */
    #enter(next: ClientState): void {
        const previous = this.#state;
        const before = this.connection;
        this.#state = next;
        if (previous.kind === 'waiting') {
            clearTimeout(previous.timer);
        } else if (previous.kind === 'resuming') {
            // Settled already if the resume came to an outcome
            previous.outcome.settle({kind: 'superseded'});
        }
        const after = this.connection;
        if (after !== before) {
            this.#client.alive = after !== null;
        }
    }

    /** Everything the state holds for delivery, oldest first, and its connection let go as `release` says */
    #takeUndelivered(release: Release): {frames: Array<string>; pending: Array<PendingMessage>; socket: WebSocket | null} {
        const state = this.#state;
        let frames: Array<string> = [];
        let pending: Array<PendingMessage> = [];
        let socket: WebSocket | null = null;
        if (state.kind === 'open' || state.kind === 'resuming') {
            const {connection} = state;
            ({frames, pending} = typeof release === 'string' ? connection.detach() : connection.end(release.code, release.reason));
            socket = release === 'hand-over' ? connection.socket : null;
        }
        if (state.kind === 'resuming' || state.kind === 'claiming') {
            for (const message of state.held.take()) {
                message.data = this.#number(message.data);
                frames.push(message.data);
                pending.push(message);
            }
        }
        return {frames, pending, socket};
    }

    /** Start reading the buffer for a replay; its settlement decides what becomes of the client */
    #claim(fromElsewhere: boolean): Claim {
        const claim: Claim = {fromElsewhere};
        const store = this.#host.bufferStore;
        const buffer = this.#buffer ?? (store ? this.#bufferQueue(store) : null);
        const claimed: Promise<ClaimedBuffer | null> = buffer ? buffer.claim(this.#session()) : Promise.resolve({messages: [], recorded: null, session: null});
        claimed.then((result) => settleClaim(this, claim, {ok: true, claimed: result}), (error: unknown) => settleClaim(this, claim, {ok: false, error}));
        return claim;
    }

    #windowPassed(): void {
        if (this.#state.kind === 'waiting') {
            this.#host.logger(this.#client).info(`Client ${this.#client.clientId} did not resume within ${this.#host.reconnectTimeoutMs / 1000}s, removing it`);
            this.close({code: CLOSE_NORMAL, reason: ''});
        }
    }

    /** The reconnect buffer overflowed or broke (noticed inside an append or read, so reported a tick later) */
    #bufferUnusable(reason: Error): void {
        const kind = this.#state.kind;
        // A resume or a claim finds out itself, from the claim
        if (kind === 'closed' || kind === 'resuming' || kind === 'claiming') {
            return;
        }
        const logger = this.#host.logger(this.#client);
        if (reason instanceof BufferClaimedError) {
            // Claimed by another node before the news of it arrived here: a send found out first
            logger.info(`Client ${this.#client.clientId} resumed on another node: removing it here`);
        } else {
            logger.warn(`Client ${this.#client.clientId} cannot resume in full and is removed (a reconnect gets a new clientId): ${reason.message}`);
        }
        this.close({code: CLOSE_TRY_AGAIN_LATER, reason: 'Reconnect buffer unusable'});
    }

    /** The frame of a message, numbered now for a client of the delivery protocol */
    #number(data: string): string {
        return this.#lastSeq === null ? data : envelope(++this.#lastSeq, data);
    }

    /** What a store records of this client while it waits, and what a claim must match */
    #session(): BufferedSession {
        const {user, connectPath} = this.#client;
        return {username: user.username, connectPath, sequenced: this.#lastSeq !== null, lastSeq: this.#lastSeq ?? 0};
    }

    #removeBuffer(): void {
        this.#buffer?.remove().catch((error: unknown) => {
            this.#host.logger(this.#client).error(`Deleting the reconnect buffer of client ${this.#client.clientId} failed`, error);
        });
    }

    #bufferQueue(store: ReconnectBufferStore): ClientBufferQueue {
        this.#buffer ??= new ClientBufferQueue(store, this.#client.clientId, this.#host.bufferMaxBytes, this.#host.bufferBudget, (reason) => {
            process.nextTick(() => this.#bufferUnusable(reason));
        });
        return this.#buffer;
    }
}
