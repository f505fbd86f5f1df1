import type WebSocket from 'ws';
import type {MashroomSecurityUser} from '@mashroom/mashroom-security/type-definitions';
import type {MashroomWebSocketClient} from '../../type-definitions';
import {ClientBufferQueue} from '../buffer/client-buffer-queue';
import {BufferClaimedError} from '../buffer/reconnect-buffer-store';
import type {BufferedSession, ClaimedBuffer, ReconnectBufferStore} from '../buffer/reconnect-buffer-store';
import {envelope} from '../protocol/delivery-envelope';
import {CLOSE_INTERNAL_ERROR, CLOSE_NORMAL, CLOSE_TRY_AGAIN_LATER, setClientIdFrame} from '../protocol/wire';
import {maxReadUnacknowledgedBytes} from '../transport/connection';
import type {ClientConnection, ConnectionOwner, ProbeOutcome} from '../transport/connection';
import {ClientGoneError} from '../transport/pending-message';
import type {PendingMessage} from '../transport/pending-message';
import type {ClientHost} from './client-host';
import {CLOSED, newOutcome} from './client-state';
import type {Claim, ClaimResult, Claiming, ClientState, Resuming, ResumeOutcome} from './client-state';
import {HeldMessages} from './held-messages';
import {decideClaim} from './claim-decision';
import type {ClaimDecision} from './claim-decision';

/** How the connection of a client that leaves its state is let go: closed with a code, handed over as it is, or already gone */
type Release = {readonly code: number; readonly reason: string} | 'hand-over' | 'gone';

/** What a connection that went away leaves the client in */
export type LostOutcome = 'waiting' | 'claiming' | 'closed' | 'not-current';

// The client library acknowledges after this many characters at the latest
const ACK_AFTER_CHARS_MAX = 64 * 1024;
const ignore = (): void => undefined;

/**
 * One client as the plugins see it (the public fields) and its lifecycle (the private ones, which stay out of
 * logs and JSON). The object lives as long as the client, across reconnects, because plugins keep it as a
 * key. Its state is one field (see client-state.ts and the diagram in docs/ARCHITECTURE.md), changed only by
 * the transitions below; what belongs to one socket lives in its Connection.
 */
export class ServerClient implements MashroomWebSocketClient, ConnectionOwner {

    alive: boolean;
    readonly #host: ClientHost;
    #state: ClientState;
    // For a client of the delivery protocol: the number of its last message; null for plain clients
    #lastSeq: number | null;
    // Made when it first waits, and kept until it is closed: its operations must reach the store in order
    #buffer: ClientBufferQueue | null = null;

    private constructor(
        host: ClientHost,
        readonly connectPath: string,
        readonly user: MashroomSecurityUser,
        readonly loggerContext: Readonly<Record<string, unknown>>,
        readonly clientId: string,
        sequenced: boolean,
        initial: (client: ServerClient) => ClientState,
    ) {
        this.#host = host;
        this.#lastSeq = sequenced ? 0 : null;
        this.#state = initial(this);
        this.alive = this.connection !== null;
    }

    /** A client that connected just now on `socket` */
    static connected(host: ClientHost, socket: WebSocket, connectPath: string, user: MashroomSecurityUser,
        loggerContext: Readonly<Record<string, unknown>>, clientId: string, sequenced: boolean): ServerClient {
        return new ServerClient(host, connectPath, user, loggerContext, clientId, sequenced, (client) => ({kind: 'open', connection: host.connect(socket, client)}));
    }

    /** A client that dropped from another node of the cluster: claimed from the shared store now, resumed with `resume` */
    static fromElsewhere(host: ClientHost, connectPath: string, user: MashroomSecurityUser,
        loggerContext: Readonly<Record<string, unknown>>, clientId: string, sequenced: boolean): ServerClient {
        return new ServerClient(host, connectPath, user, loggerContext, clientId, sequenced, (client) => ({
            kind: 'claiming',
            held: new HeldMessages(clientId, host.bufferMaxBytes, 'being claimed'),
            claim: client.#claim(true),
        }));
    }

    get state(): ClientState['kind'] {
        return this.#state.kind;
    }

    /** The connection it is served on, if any */
    get connection(): ClientConnection | null {
        const state = this.#state;
        return state.kind === 'open' || state.kind === 'resuming' ? state.connection : null;
    }

    /** Whether it waits for a connection to resume it */
    get canResume(): boolean {
        return this.#state.kind === 'waiting' || this.#state.kind === 'claiming';
    }

    /** Whether the client speaks the delivery protocol */
    get sequenced(): boolean {
        return this.#lastSeq !== null;
    }

    /** Whether this is a client of that host and not closed, i.e. registered there (a closed client never is) */
    isServedBy(host: ClientHost): boolean {
        return this.#host === host && this.#state.kind !== 'closed';
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
        return Promise.reject(new ClientGoneError(this.clientId));
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
            this.#close('gone');
            return 'closed';
        }
        this.#wait(store, 'connection', 'gone');
        return 'waiting';
    }

    /**
     * Transition: a new connection takes over a waiting client. The buffer is claimed; once it is, the client
     * gets its id again and the replay (for a client of the delivery protocol, what came after `clientHas`),
     * then what was held meanwhile. The sequence: docs/ARCHITECTURE.md, "Resume".
     */
    resume(socket: WebSocket, clientHas: number | null): Promise<ResumeOutcome> {
        const state = this.#state;
        if (state.kind !== 'waiting' && state.kind !== 'claiming') {
            return Promise.reject(new Error(`Cannot resume client ${this.clientId} in state ${state.kind}`));
        }
        const outcome = newOutcome();
        this.#enter({
            kind: 'resuming',
            connection: this.#host.connect(socket, this),
            held: state.kind === 'claiming' ? state.held : new HeldMessages(this.clientId, this.#host.bufferMaxBytes, 'resuming'),
            claim: state.kind === 'claiming' ? state.claim : this.#claim(false),
            clientHas,
            outcome,
        });
        return outcome.promise;
    }

    /** Whether its connection is alive (see Connection.probe); 'gone' without one */
    probe(timeoutMs: number): Promise<ProbeOutcome> {
        return this.connection?.probe(timeoutMs) ?? Promise.resolve('gone');
    }

    /** The dead-peer check: ping, or cut the connection off if it did not answer the last ping (then false) */
    checkAlive(): boolean {
        const connection = this.connection;
        if (!connection) {
            return true;
        }
        if (!this.alive) {
            this.#host.logger(this).info(`Client ${this.clientId} did not answer the last ping, terminating its connection`);
            connection.terminate();
            return false;
        }
        this.alive = false;
        connection.ping();
        return true;
    }

    /** The keep-alive message, to an open connection only (a waiting client gets none in its buffer) */
    keepAlive(frame: Buffer): void {
        if (this.#state.kind === 'open') {
            this.#state.connection.sendUntracked(frame);
        }
    }

    /** Transition: closed for good, its connection (if any) with the given code */
    close(code: number, reason: string): void {
        this.#close({code, reason});
    }

    /** Transition: another node of the cluster claimed it while it waited here. False if it was not waiting */
    resumedElsewhere(): boolean {
        if (this.#state.kind !== 'waiting') {
            return false;
        }
        this.#host.logger(this).info(`Client ${this.clientId} resumed on another node: removing it here`);
        this.#close('gone');
        return true;
    }

    /** Resolves when every buffer operation asked for so far has finished */
    buffered(): Promise<void> {
        return this.#buffer ? this.#buffer.settled() : Promise.resolve();
    }

    /**
     * Its setClientId. With buffering on, a client of the delivery protocol is asked to acknowledge well before
     * it gets near what it may leave unacknowledged: an eighth of it, in characters (up to 3 bytes each), at most
     * what the library does anyway.
     */
    idFrame(): string {
        const ackAfterChars = this.#lastSeq !== null && this.#host.bufferStore
            ? Math.max(1, Math.min(ACK_AFTER_CHARS_MAX, Math.floor(maxReadUnacknowledgedBytes(this.#host.connections) / 8)))
            : null;
        return setClientIdFrame(this.clientId, this.#lastSeq !== null, ackAfterChars);
    }

    /** Every state change goes through here */
    #enter(next: ClientState): void {
        const previous = this.#state;
        this.#state = next;
        if (previous.kind === 'waiting') {
            clearTimeout(previous.timer);
        } else if (previous.kind === 'resuming') {
            // Its outcome was settled already if the resume came to one
            previous.outcome.settle({kind: 'superseded'});
        }
        const connection = this.connection;
        if (connection !== (previous.kind === 'open' || previous.kind === 'resuming' ? previous.connection : null)) {
            this.alive = connection !== null;
        }
    }

    /** Transition to waiting: what the connection did not get across and what was held go into the buffer first */
    #wait(store: ReconnectBufferStore, from: 'connection' | 'claim', release: Release): void {
        const {frames, pending} = this.#takeUndelivered(release);
        const opened = this.#bufferQueue(store).open(this.#session(), this.#host.reconnectTimeoutMs, frames);
        // The outcome is reported through the promises of the messages (and the buffer's own handling)
        opened.catch(ignore);
        pending.forEach((message) => opened.then(message.resolve, message.reject));
        const timer = setTimeout(() => this.#windowPassed(), this.#host.reconnectTimeoutMs);
        timer.unref();
        this.#enter({kind: 'waiting', timer, since: Date.now(), from});
    }

    /** The one transition to closed: what it still holds is refused, its buffer deleted, its host told. Returns a handed-over socket */
    #close(release: Release, known = true): WebSocket | null {
        if (this.#state.kind === 'closed') {
            return null;
        }
        const {pending, socket} = this.#takeUndelivered(release);
        this.#enter(CLOSED);
        if (pending.length > 0) {
            const gone = new ClientGoneError(this.clientId);
            pending.forEach((message) => message.reject(gone));
        }
        this.#removeBuffer();
        this.#host.clientClosed(this, known);
        return socket;
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
        claimed.then((result) => this.#claimSettled(claim, {ok: true, claimed: result}), (error: unknown) => this.#claimSettled(claim, {ok: false, error}));
        return claim;
    }

    #claimSettled(claim: Claim, result: ClaimResult): void {
        try {
            const state = this.#state;
            if ((state.kind === 'resuming' || state.kind === 'claiming') && state.claim === claim) {
                this.#carryOut(state, decideClaim({
                    clientId: this.clientId,
                    fromElsewhere: claim.fromElsewhere,
                    attached: state.kind === 'resuming',
                    lastSeq: this.#lastSeq,
                    clientHas: state.kind === 'resuming' ? state.clientHas : null,
                    overflow: state.held.overflow,
                }, result));
            }
            // Otherwise the connection that asked went away (the buffer is untouched) or the client was closed
        } catch (error) {
            this.#fail(error);
        }
    }

    #carryOut(state: Resuming | Claiming, decision: ClaimDecision): void {
        const logger = this.#host.logger(this);
        if (decision.kind === 'give-up' || decision.kind === 'retry') {
            decision.log.forEach(({level, message, error}) => (error === undefined ? logger[level](message) : logger[level](message, error)));
        }
        if (decision.kind === 'give-up') {
            // No partial replay: a connection that waits is served as a new client
            if (state.kind === 'resuming') {
                state.outcome.settle({kind: 'fresh', socket: state.connection.socket});
            }
            this.#close('hand-over', decision.known);
            return;
        }
        const store = this.#host.bufferStore;
        if (decision.kind === 'retry') {
            const release = {code: CLOSE_INTERNAL_ERROR, reason: 'Reconnect buffer unavailable'};
            if (state.kind === 'resuming') {
                state.outcome.settle({kind: 'retry'});
            }
            return store?.available ? this.#wait(store, 'connection', release) : void this.#close(release);
        }
        this.#lastSeq = decision.lastSeq;
        if (decision.kind === 'wait' || state.kind === 'claiming') {
            // Ours now, and it waits here: the claimed messages stay in the store, what was held follows them
            return store ? this.#wait(store, 'claim', 'gone') : void this.#close('gone');
        }
        const {connection, held, claim, outcome} = state;
        outcome.settle({kind: 'resumed'});
        connection.sendUntracked(this.idFrame(), true);
        this.#enter({kind: 'open', connection});
        // Nobody waits for the replayed frames: a drop before they are written must not reject unobserved
        let replayed: Promise<void> | null = null;
        for (const frame of decision.frames) {
            const written = connection.deliver(frame, null);
            if (written !== replayed) {
                replayed = written;
                written.catch(ignore);
            }
        }
        connection.markReplay();
        // The replay is kept as unacknowledged on the connection now, so the buffer can go
        this.#removeBuffer();
        for (const message of held.take()) {
            message.data = this.#number(message.data);
            void connection.deliver(message.data, message);
        }
        if (claim.fromElsewhere) {
            logger.info(`Client ${this.clientId} resumed here after it dropped from another node`);
        }
        logger.info(`Client ${this.clientId} resumed, ${decision.frames.length} buffered message(s) replayed`);
    }

    /** A fault during a resume: nothing is known to be complete, so the client is closed (1011) rather than left half-resumed */
    #fail(error: unknown): void {
        this.#host.logger(this).error(`Resuming client ${this.clientId} failed: closing it (1011)`, error);
        const state = this.#state;
        if (state.kind === 'resuming') {
            state.outcome.settle({kind: 'failed'});
        }
        this.#close({code: CLOSE_INTERNAL_ERROR, reason: 'Internal error'});
    }

    #windowPassed(): void {
        if (this.#state.kind === 'waiting') {
            this.#host.logger(this).info(`Client ${this.clientId} did not resume within ${this.#host.reconnectTimeoutMs / 1000}s, removing it`);
            this.#close({code: CLOSE_NORMAL, reason: ''});
        }
    }

    /** The reconnect buffer overflowed or broke (noticed inside an append or read, so reported a tick later) */
    #bufferUnusable(reason: Error): void {
        const kind = this.#state.kind;
        // A resume or a claim finds out itself, from the claim
        if (kind === 'closed' || kind === 'resuming' || kind === 'claiming') {
            return;
        }
        if (reason instanceof BufferClaimedError) {
            // Claimed by another node before the news of it arrived here: a send found out first
            this.#host.logger(this).info(`Client ${this.clientId} resumed on another node: removing it here`);
        } else {
            this.#host.logger(this).warn(`Client ${this.clientId} cannot resume in full and is removed (a reconnect gets a new clientId): ${reason.message}`);
        }
        this.#close({code: CLOSE_TRY_AGAIN_LATER, reason: 'Reconnect buffer unusable'});
    }

    /** The frame of a message, numbered now for a client of the delivery protocol */
    #number(data: string): string {
        return this.#lastSeq === null ? data : envelope(++this.#lastSeq, data);
    }

    /** What a store records of this client while it waits, and what a claim must match */
    #session(): BufferedSession {
        return {username: this.user.username, connectPath: this.connectPath, sequenced: this.#lastSeq !== null, lastSeq: this.#lastSeq ?? 0};
    }

    #removeBuffer(): void {
        this.#buffer?.remove().catch((error: unknown) => {
            this.#host.logger(this).error(`Deleting the reconnect buffer of client ${this.clientId} failed`, error);
        });
    }

    #bufferQueue(store: ReconnectBufferStore): ClientBufferQueue {
        this.#buffer ??= new ClientBufferQueue(store, this.clientId, this.#host.bufferMaxBytes, this.#host.bufferBudget, (reason) => {
            process.nextTick(() => this.#bufferUnusable(reason));
        });
        return this.#buffer;
    }
}
