import type WebSocket from 'ws';
import type {MashroomSecurityUser} from '@mashroom/mashroom-security/type-definitions';
import type {MashroomWebSocketClient} from '../../type-definitions';
import {ClientBufferQueue} from '../buffer/client-buffer-queue';
import {BufferClaimedError} from '../buffer/reconnect-buffer-store';
import type {BufferedSession, ClaimedBuffer, ReconnectBufferStore, SealedClient} from '../buffer/reconnect-buffer-store';
import {envelope} from '../protocol/delivery-envelope';
import {userAndPath} from '../protocol/client-label';
import {CLOSE_INTERNAL_ERROR, CLOSE_NORMAL, CLOSE_TRY_AGAIN_LATER, setClientIdFrame} from '../protocol/wire';
import type {ClientConnection, ConnectionOwner} from '../transport/client-connection';
import {ackAfterChars} from '../transport/flow-control';
import {ClientGoneError} from '../transport/pending-message';
import {settleClaim} from './claim-settlement';
import type {ClaimTarget} from './claim-settlement';
import type {ClientHost} from './client-host';
import {CLOSED, newOutcome, takeUndelivered} from './client-state';
import type {Claim, ClientState, LostOutcome, Release, Resuming, ResumeOutcome} from './client-state';
import {HeldMessages} from './held-messages';

const ignore = (): void => undefined;

/** The promise of `run`, also when it throws before making one */
const settled = <T>(run: () => Promise<T>): Promise<T> => {
    try {
        return run();
    } catch (error) {
        return Promise.reject(error);
    }
};

/**
 * One client: what the plugins see of it (the public fields, which they read and log, and the object itself, which
 * they keep as a key across reconnects) and its lifecycle, in private fields out of logs and JSON. Its state is one
 * field (client-state.ts; the diagram in docs/ARCHITECTURE.md), changed only by the transitions here, all of which
 * go through `enter`; what belongs to one socket lives in its Connection. (Private methods are `private`, not `#`:
 * a class with `#` methods stores a brand in every instance, a slot per idle client.)
 */
export class ServerClient implements MashroomWebSocketClient, ConnectionOwner {

    alive = false;
    readonly #host: ClientHost;
    #state: ClientState = CLOSED;
    // The open state's connection, kept by `enter`: a send reads it here, one memory fetch less (5 % of a burst)
    #open: ClientConnection | null = null;
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
        socket: WebSocket | null,
    ) {
        this.#host = host;
        this.#lastSeq = sequenced ? 0 : null;
        this.enter(socket
            ? {kind: 'open', connection: host.connect(socket, this)}
            : {kind: 'claiming', held: new HeldMessages(clientId, 'being claimed', host.buffers), claim: this.claim(true)});
    }

    /** A client that connected just now on `socket` */
    static connected(host: ClientHost, socket: WebSocket, connectPath: string, user: MashroomSecurityUser,
        loggerContext: Readonly<Record<string, unknown>>, clientId: string, sequenced: boolean): ServerClient {
        return new ServerClient(host, connectPath, user, loggerContext, clientId, sequenced, socket);
    }

    /** A client that dropped from another node of the cluster: claimed from the shared store now, resumed with `resume` */
    static fromElsewhere(host: ClientHost, connectPath: string, user: MashroomSecurityUser,
        loggerContext: Readonly<Record<string, unknown>>, clientId: string, sequenced: boolean): ServerClient {
        return new ServerClient(host, connectPath, user, loggerContext, clientId, sequenced, null);
    }

    get state(): ClientState['kind'] {
        return this.#state.kind;
    }

    /** The connection of the open state: the one to send to */
    get openConnection(): ClientConnection | null {
        return this.#open;
    }

    /** The connection it is served on, if any (while resuming too) */
    get connection(): ClientConnection | null {
        const state = this.#state;
        return state.kind === 'open' || state.kind === 'resuming' ? state.connection : null;
    }

    /** Until when it waits for a connection (the end of its reconnect window), or null if it does not wait here */
    get waitingUntil(): number | null {
        return this.#state.kind === 'waiting' ? this.#state.deadline : null;
    }

    /** Whether it waits for a connection to resume it */
    get canResume(): boolean {
        return this.#state.kind === 'waiting' || this.#state.kind === 'claiming';
    }

    /** Whether the client speaks the delivery protocol */
    get sequenced(): boolean {
        return this.#lastSeq !== null;
    }

    /** Whether this is a client of that host and not closed, i.e. registered there (closed is one state object) */
    isServedBy(host: ClientHost): boolean {
        return this.#host === host && this.#state !== CLOSED;
    }

    send(data: string): Promise<void> {
        const open = this.#open;
        if (open) {
            return open.deliver(this.#lastSeq === null ? data : envelope(++this.#lastSeq, data), null);
        }
        const state = this.#state;
        if (state.kind === 'resuming' || state.kind === 'claiming') {
            return state.held.hold(data);
        }
        if (state.kind === 'waiting' && this.#buffer) {
            return this.#buffer.append(this.number(data));
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
            this.enter({kind: 'claiming', held: state.held, claim: state.claim});
            return 'claiming';
        }
        const store = this.#host.bufferStore;
        if (!store?.available) {
            this.finish('gone');
            return 'closed';
        }
        return this.wait(store, 'connection', 'gone');
    }

    /** Transition: a new connection takes over a waiting client, which resumes once its buffer is claimed */
    resume(socket: WebSocket, clientHas: number | null): Promise<ResumeOutcome> {
        const state = this.#state;
        if (state.kind !== 'waiting' && state.kind !== 'claiming') {
            return Promise.reject(new Error(`Cannot resume client ${this.clientId} in state ${state.kind}`));
        }
        const outcome = newOutcome();
        this.enter({
            kind: 'resuming',
            connection: this.#host.connect(socket, this),
            held: state.kind === 'claiming' ? state.held : new HeldMessages(this.clientId, 'resuming', this.#host.buffers),
            claim: state.kind === 'claiming' ? state.claim : this.claim(false),
            clientHas,
            outcome,
        });
        return outcome.promise;
    }

    /** Transition: the claim succeeded; the client gets its id again, the replay and what was held meanwhile */
    private resumed(state: Resuming, frames: ReadonlyArray<string>, lastSeq: number | null): void {
        const {connection} = state;
        this.#lastSeq = lastSeq;
        connection.replay(idFrameOf(this, this.#host), frames);
        state.held.handOver((message) => {
            message.data = this.number(message.data);
            void connection.deliver(message.data, message);
        });
        state.outcome.settle({kind: 'resumed'});
        this.enter({kind: 'open', connection});
        // The replay is kept as unacknowledged on the connection now, so the buffer can go
        this.#buffer?.discard();
    }

    /** Transition to waiting: what the connection did not get across and what was held go into the buffer first.
     * Closed instead if a message was refused while its buffer was read: what it holds is not all there was */
    private wait(store: ReconnectBufferStore, from: 'connection' | 'claim', release: Release, lastSeq = this.#lastSeq): 'waiting' | 'closed' {
        const state = this.#state;
        const overflow = state.kind === 'resuming' || state.kind === 'claiming' ? state.held.overflow : null;
        if (overflow) {
            this.#host.logger(this).warn(`Client ${this.clientId} cannot resume in full and is removed (a reconnect gets a new clientId): ${overflow.message}${userAndPath(this)}`);
            this.finish(release);
            return 'closed';
        }
        this.#lastSeq = lastSeq;
        const {frames, pending} = takeUndelivered(state, release, (data) => this.number(data));
        const opened = settled(() => this.bufferQueue(store).open(sessionOf(this, this.#lastSeq), this.#host.reconnectTimeoutMs, frames));
        // The outcome is reported through the promises of the messages (and the buffer's own handling)
        opened.catch(ignore);
        pending.forEach((message) => opened.then(message.resolve, message.reject));
        const timer = setTimeout(() => this.windowPassed(), this.#host.reconnectTimeoutMs);
        timer.unref();
        this.enter({kind: 'waiting', timer, deadline: Date.now() + this.#host.reconnectTimeoutMs, from});
        return 'waiting';
    }

    /** Transition: closed for good, its connection (if any) with the given code */
    close(code: number, reason: string): void {
        this.finish({code, reason});
    }

    /** The one transition to closed: what it still holds is refused, its buffer deleted (unless it is kept for a
     * resume elsewhere), its host told (`known`: its disconnect listeners are called). Returns a handed-over socket. */
    private finish(release: Release, known = true, keepBuffer = false): WebSocket | null {
        if (this.#state.kind === 'closed') {
            return null;
        }
        const {pending, socket} = takeUndelivered(this.#state, release, (data) => this.number(data));
        this.enter(CLOSED);
        if (pending.length > 0) {
            const gone = new ClientGoneError(this.clientId);
            pending.forEach((message) => message.reject(gone));
        }
        if (!keepBuffer) {
            this.#buffer?.discard();
        }
        this.#host.clientClosed(this, known);
        return socket;
    }

    /** Transition for a drain: it leaves this process, its buffer kept; what the next process needs, if it waits */
    leave(): SealedClient | null {
        const state = this.#state;
        const sealed = state.kind === 'waiting' ? {clientId: this.clientId, session: sessionOf(this, this.#lastSeq), deadline: state.deadline} : null;
        this.finish('gone', true, true);
        return sealed;
    }

    /** Transition: another node of the cluster claimed it while it waited here. False if it was not waiting */
    resumedElsewhere(): boolean {
        if (this.#state.kind !== 'waiting') {
            return false;
        }
        this.#host.logger(this).info(`Client ${this.clientId} resumed on another node: removing it here${userAndPath(this)}`);
        this.finish('gone');
        return true;
    }

    /** A fault during a resume: nothing is known to be complete, so the client is closed (1011) rather than left half-resumed */
    private fail(error: unknown): void {
        this.#host.logger(this).error(`Resuming client ${this.clientId} failed: closing it (1011)${userAndPath(this)}`, error);
        const state = this.#state;
        if (state.kind === 'resuming') {
            state.outcome.settle({kind: 'failed'});
        }
        this.finish({code: CLOSE_INTERNAL_ERROR, reason: 'Internal error'});
    }

    /** Resolves when every buffer operation asked for so far has finished */
    buffered(): Promise<void> {
        return this.#buffer ? this.#buffer.settled() : Promise.resolve();
    }

    /** Every state change goes through here */
    private enter(next: ClientState): void {
        const previous = this.#state;
        const before = this.connection;
        this.#state = next;
        this.#open = next.kind === 'open' ? next.connection : null;
        if (previous.kind === 'waiting') {
            clearTimeout(previous.timer);
        } else if (previous.kind === 'resuming') {
            // Settled already if the resume came to an outcome
            previous.outcome.settle({kind: 'superseded'});
        }
        const after = this.connection;
        if (after !== before) {
            this.alive = after !== null;
        }
    }

    /** Start reading the buffer for a replay; its settlement, lent the transitions of a resume, decides the rest */
    private claim(fromElsewhere: boolean): Claim {
        const claim: Claim = {fromElsewhere};
        const store = this.#host.bufferStore;
        const buffer = this.#buffer ?? (store ? this.bufferQueue(store) : null);
        const claimed: Promise<ClaimedBuffer | null> = buffer ? buffer.claim(sessionOf(this, this.#lastSeq)) : Promise.resolve({messages: [], recorded: null, session: null});
        const target: ClaimTarget = {
            client: this,
            host: this.#host,
            state: () => this.#state,
            lastSeq: () => this.#lastSeq,
            close: (release, known) => void this.finish(release, known),
            wait: (waitStore, from, release, lastSeq) => this.wait(waitStore, from, release, lastSeq),
            resumed: (state, frames, lastSeq) => this.resumed(state, frames, lastSeq),
            fail: (error) => this.fail(error),
        };
        claimed.then((result) => settleClaim(target, claim, {ok: true, claimed: result}), (error: unknown) => settleClaim(target, claim, {ok: false, error}));
        return claim;
    }

    private windowPassed(): void {
        const state = this.#state;
        if (state.kind === 'waiting') {
            this.#host.logger(this).info(`Client ${this.clientId} did not resume within ${this.#host.reconnectTimeoutMs / 1000}s${
                state.from === 'claim' ? ' (claimed from another node with no connection)' : ''}, removing it${userAndPath(this)}`);
            this.finish({code: CLOSE_NORMAL, reason: ''});
        }
    }

    /** The buffer overflowed or broke (noticed in an append or read, reported a tick later); a claim finds out itself */
    private bufferUnusable(reason: Error): void {
        const kind = this.#state.kind;
        if (kind === 'closed' || kind === 'resuming' || kind === 'claiming') {
            return;
        }
        // Claimed by another node before the news of it arrived here (a send found out first), or broken
        const logger = this.#host.logger(this);
        if (reason instanceof BufferClaimedError) {
            logger.info(`Client ${this.clientId} resumed on another node: removing it here${userAndPath(this)}`);
        } else {
            logger.warn(`Client ${this.clientId} cannot resume in full and is removed (a reconnect gets a new clientId): ${reason.message}${userAndPath(this)}`);
        }
        this.finish({code: CLOSE_TRY_AGAIN_LATER, reason: 'Reconnect buffer unusable'});
    }

    /** The frame of a message, numbered now for a client of the delivery protocol */
    private number(data: string): string {
        return this.#lastSeq === null ? data : envelope(++this.#lastSeq, data);
    }

    private bufferQueue(store: ReconnectBufferStore): ClientBufferQueue {
        this.#buffer ??= new ClientBufferQueue(store, this.clientId, this.#host.buffers, {
            unusable: (reason) => process.nextTick(() => this.bufferUnusable(reason)),
            removeFailed: (error) => this.#host.logger(this).error(`Deleting the reconnect buffer of client ${this.clientId} failed`, error),
        });
        return this.#buffer;
    }
}

/** The setClientId of a client; with buffering on, one of the delivery protocol says when to acknowledge at once */
export const idFrameOf = (client: ServerClient, host: ClientHost): string => {
    const {sequenced} = client;
    return setClientIdFrame(client.clientId, sequenced, sequenced && host.bufferStore ? ackAfterChars(host.connections) : null);
};

/** What a store records of a client while it waits, and what a claim must match */
const sessionOf = ({user, connectPath}: ServerClient, lastSeq: number | null): BufferedSession =>
    ({username: user.username, connectPath, sequenced: lastSeq !== null, lastSeq: lastSeq ?? 0});
