import type WebSocket from 'ws';
import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {MashroomSecurityUser} from '@mashroom/mashroom-security/type-definitions';
import type {MashroomWebSocketClient} from '../../type-definitions';
import type {BufferBudget} from '../buffer/BufferBudget';
import {ClientBufferQueue, ReconnectBufferOverflowError} from '../buffer/ClientBufferQueue';
import {BufferLostError} from '../buffer/ReconnectBufferStore';
import type {BufferedSession, ClaimedBuffer, ReconnectBufferStore} from '../buffer/ReconnectBufferStore';
import {AckTracker} from './AckTracker';
import {DELIVERY_PROTOCOL, envelope, seqOfEnvelope} from './delivery-protocol';
import {isOpen, rawSocket} from './turn-batcher';
import type {RawSocket, TurnWrites} from './turn-batcher';
import {writesSettled} from './writes-settled';

/**
 * - open: connected, messages go to the socket
 * - resuming: reconnected, the buffered messages are being read and replayed; new messages queue behind them
 * - waiting: disconnected within the reconnect window, messages go to the reconnect buffer
 * - closed: gone for good
 */
export type ClientState = 'open' | 'resuming' | 'waiting' | 'closed';

export const CLOSE_TRY_AGAIN_LATER = 1013;

const ignore = (): void => undefined;

// The client library acknowledges after this many characters at the latest
const ACK_AFTER_CHARS_MAX = 64 * 1024;

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
     * Batches the frames to a socket within one turn. Its beforeWrite is true for the first frame of the
     * turn: only then is the socket's backlog what earlier turns left unsent
     */
    readonly writes: TurnWrites;
    /** The reconnect window of a waiting client has passed */
    reconnectWindowPassed(client: ServerClient): void;
    /** The client's reconnect buffer overflowed or broke: it can no longer resume in full */
    bufferUnusable(client: ServerClient, reason: Error): void;
    /** The client sent frames that no ping asked about yet: ping it soon */
    ackWanted(client: ServerClient): void;
}

/** A message accepted by sendMessage whose promise is still open */
class Pending {
    readonly promise: Promise<void>;
    resolve!: () => void;
    reject!: (error: Error) => void;
    /** Number of the write that carries it, 0 while it is held back */
    seq = 0;
    /** Whether `data` is the frame as sent (numbered for a client of the delivery protocol) */
    numbered = true;

    constructor(public data: string) {
        this.promise = new Promise((resolve, reject) => {
            this.resolve = resolve;
            this.reject = reject;
        });
    }
}

const NOTHING = Buffer.alloc(0);

export type ResumeOutcome = 'resumed' | 'lost' | 'interrupted';
export type ProbeOutcome = 'alive' | 'gone';

export class ClientGoneError extends Error {
    constructor(clientId: string) {
        super(`WebSocket client ${clientId} is closed`);
        this.name = 'ClientGoneError';
    }
}

/**
 * The first message on every connection. To a client of the delivery protocol it also says so (a server that
 * does not speak the protocol may still have accepted the subprotocol: ws accepts the first one offered), and
 * how many characters it may receive before it must acknowledge at once (see maxReadUnacknowledgedBytes).
 */
const setClientIdFrame = (clientId: string, sequenced = false, ackAfterChars: number | null = null): string =>
    JSON.stringify(sequenced
        ? {type: 'setClientId', payload: clientId, protocol: DELIVERY_PROTOCOL, ...ackAfterChars !== null && {ackAfterChars}}
        : {type: 'setClientId', payload: clientId});

/**
 * One client as the plugins see it (the public fields) and its delivery state (the private ones, which
 * stay out of logs and JSON). The object lives as long as the client, across reconnects, because
 * plugins keep it as a key (the messaging plugin keeps its subscriptions per client object).
 *
 * Delivery with reconnect buffering on: every frame sent on a connection is kept until the peer has
 * acknowledged it (a pong to a later ping, see AckTracker). When the connection drops, the frames not
 * acknowledged go into the reconnect buffer, in order, ahead of everything sent later, and a resume
 * replays them: a message may arrive twice after a drop, but it is not lost. Without buffering, a message
 * whose write had not completed when the connection dropped makes its sendMessage reject.
 *
 * A client that speaks the delivery protocol (see delivery-protocol.ts) gets every message numbered, so it
 * can drop the duplicates and tell on a resume what it has.
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
    // Frames of the current connection not yet acknowledged (only with buffering on); made on first use
    #acks: AckTracker | null = null;
    // Promises of messages written (or held back) but not yet written through; oldest first. A write the
    // operating system took at once is not kept here at all
    #unconfirmed: Array<Pending> | null = null;
    // The entry that the messages of this turn after the first share (see TurnBatcher): they leave in one
    // write (or with the first, if it was not written through), so one promise, settled by the write callback
    // of the last of them, stands for all of them
    #turnEntry: Pending | null = null;
    // Frames written with a callback (all but those the operating system took at once), and frames that write
    // callbacks confirmed; equal again after every drop
    #writeSeq = 0;
    #confirmedSeq = 0;
    // Bytes held back because the socket is closing (nothing can be written any more)
    #heldBytes = 0;
    // Sent during a resume (or while a claim from another node runs), to follow the replay; not numbered yet,
    // since the numbering of a client claimed from another node is only known once the claim succeeds
    #resumeQueue: Array<Pending> | null = null;
    // One write callback for all messages of a connection, made on first use: no closure per message.
    // Write callbacks come in write order, so counting the frames they report tells which have been written
    // (a frame the operating system took at once is written without a callback, and not counted)
    #onWritten: ((error?: Error | null, frames?: number) => void) | null = null;
    // For a client of the delivery protocol: the number of the last message; null for plain clients
    #lastSeq: number | null;
    // A running check whether the connection is still alive (a second connection wants to take over)
    #probe: {promise: Promise<ProbeOutcome>; resolve: (outcome: ProbeOutcome) => void; timer: NodeJS.Timeout} | null = null;
    // A client that dropped from another node is not ours until its claim succeeds: until then nothing of it
    // may reach the store (a connection that goes away during the claim must not make up a session)
    #unclaimed: boolean;
    // That claim, while it runs: a second connection that wants the client waits for it instead of claiming again
    #claim: Promise<ClaimedBuffer | null> | null = null;
    // Bytes queued while its connection is gone and the claim still runs (bounded like its buffer); the error
    // once a send was refused for it, which leaves a gap: the client cannot resume in full any more
    #unclaimedBytes = 0;
    #unclaimedOverflow: Error | null = null;

    /**
     * `socket` null: a client that dropped from another node of a cluster, waiting to be resumed here
     */
    constructor(
        host: ClientHost,
        socket: WebSocket | null,
        readonly connectPath: string,
        readonly user: MashroomSecurityUser,
        readonly loggerContext: Readonly<Record<string, unknown>>,
        readonly clientId: string,
        sequenced = false,
    ) {
        this.#host = host;
        this.#socket = socket;
        this.#lastSeq = sequenced ? 0 : null;
        this.#unclaimed = !socket;
        if (!socket) {
            this.#state = 'waiting';
            this.alive = false;
        }
    }

    get socket(): WebSocket | null {
        return this.#socket;
    }

    get state(): ClientState {
        return this.#state;
    }

    /** Whether this is a client of another node whose claim has not succeeded (yet): it never existed here */
    get unclaimed(): boolean {
        return this.#unclaimed;
    }

    /** Whether the client speaks the delivery protocol */
    get sequenced(): boolean {
        return this.#lastSeq !== null;
    }

    /** Whether this is a client of that host and not closed, i.e. registered there (a closed client never is) */
    isServedBy(host: ClientHost): boolean {
        return this.#host === host && this.#state !== 'closed';
    }

    send(data: string): Promise<void> {
        if (this.#state === 'closed') {
            return Promise.reject(new ClientGoneError(this.clientId));
        }
        if (this.#unclaimed && this.#state === 'waiting') {
            // Nowhere to go until the claim decides, so held in memory: no more than its buffer would take
            this.#unclaimedBytes += Buffer.byteLength(data) + 1;
            if (this.#unclaimedOverflow || this.#unclaimedBytes > this.#host.bufferMaxBytes) {
                this.#unclaimedOverflow ??= new ReconnectBufferOverflowError(this.clientId, `reconnectMessageBufferMaxBytes (${this.#host.bufferMaxBytes}) while it was being claimed`);
                return Promise.reject(this.#unclaimedOverflow);
            }
        }
        if (this.#state === 'resuming' || this.#unclaimed) {
            const pending = new Pending(data);
            pending.numbered = false;
            (this.#resumeQueue ??= []).push(pending);
            return pending.promise;
        }
        const frame = this.#lastSeq === null ? data : envelope(++this.#lastSeq, data);
        if (this.#state === 'open') {
            return this.deliver(frame, null);
        }
        return this.#buffer ? this.#buffer.append(frame) : Promise.reject(new ClientGoneError(this.clientId));
    }

    /**
     * The socket closed without us closing it. With buffering on, wait for a reconnect and return true;
     * otherwise the client is gone and false is returned.
     */
    socketDropped(): boolean {
        const store = this.#host.bufferStore?.available ? this.#host.bufferStore : null;
        if (this.#socket) {
            // Whatever it still had queued is among the undelivered now, and must not reach the wire later
            this.#host.writes.discard(this.#socket);
        }
        this.#socket = null;
        this.#epoch++;
        this.#onWritten = null;
        this.alive = false;
        this.endProbe('gone');
        if (this.#unclaimed) {
            // Its claim is still running and decides: it waits here (see resume) or it never existed here.
            // What is sent meanwhile stays queued in memory
            this.#state = 'waiting';
            return true;
        }
        if (!store) {
            this.#state = 'closed';
            this.takeUndelivered().pending.forEach((message) => message.reject(new ClientGoneError(this.clientId)));
            return false;
        }
        this.startWaiting(store);
        return true;
    }

    /**
     * Wait for a reconnect: what the connection had not acknowledged, and what was queued for it, go into the
     * buffer (opened with them, in one step), then everything sent until the resume
     */
    private startWaiting(store: ReconnectBufferStore): void {
        this.#state = 'waiting';
        this.clearReconnectTimer();
        const {frames, pending} = this.takeUndelivered();
        const opened = this.bufferQueue(store).open(this.session(), this.#host.reconnectTimeoutMs, frames);
        // The outcome is reported through the promises of the messages (and the buffer's own handling)
        opened.catch(() => undefined);
        pending.forEach((message) => opened.then(message.resolve, message.reject));
        this.#reconnectTimer = setTimeout(() => this.#host.reconnectWindowPassed(this), this.#host.reconnectTimeoutMs);
        this.#reconnectTimer.unref();
    }

    /**
     * Take a waiting client over to a new socket: read the buffer, and if it is complete send the client
     * its id again, replay the buffer in order (for a client of the delivery protocol, what it has not got
     * yet: after `lastSeq`), then the messages sent meanwhile. 'lost': the buffer is not complete and
     * nothing was sent; the caller gives this client up and serves the socket as a new client.
     * 'interrupted': the socket went away.
     */
    async resume(socket: WebSocket, lastSeq: number | null): Promise<ResumeOutcome> {
        if (this.#state !== 'waiting') {
            throw new Error(`Cannot resume client ${this.clientId} in state ${this.#state}`);
        }
        this.clearReconnectTimer();
        this.#socket = socket;
        this.#state = 'resuming';
        this.alive = true;
        const epoch = ++this.#epoch;
        // Messages queued while a claim from another node ran stay first
        const queue = (this.#resumeQueue ??= []);

        const store = this.#host.bufferStore;
        const buffer = this.#buffer ?? (store ? this.bufferQueue(store) : null);
        let replay: Array<string> = [];
        if (buffer) {
            const fromElsewhere = this.#unclaimed;
            try {
                const claimed = await (fromElsewhere ? this.claimFromElsewhere(buffer) : buffer.claim(this.session()));
                if (!claimed) {
                    // A client from elsewhere that nobody resumes any more is lost too: it never existed here
                    return this.#epoch === epoch || (fromElsewhere && this.state === 'waiting') ? 'lost' : 'interrupted';
                }
                if (this.#unclaimed) {
                    // The first to learn of the claim (of all the connections that waited for it) makes the client ours
                    this.#unclaimed = false;
                    if (this.#lastSeq !== null) {
                        // Numbering goes on where the node that had the client left it
                        const lastReplayed = claimed.messages.length > 0 ? seqOfEnvelope(claimed.messages[claimed.messages.length - 1]) ?? 0 : 0;
                        this.#lastSeq = Math.max(this.#lastSeq, claimed.session?.lastSeq ?? 0, lastReplayed);
                    }
                    if (this.#unclaimedOverflow && this.state === 'waiting') {
                        // Ours now, without a connection, but a send was refused meanwhile: it cannot resume in full
                        this.#host.bufferUnusable(this, this.#unclaimedOverflow);
                    } else if (this.state === 'waiting' && store) {
                        // Its connection went away during the claim, and no other took its place: it waits here,
                        // with the claimed messages kept in the store and what was queued meanwhile after them
                        this.startWaiting(store);
                    }
                }
                // A newer connection that waited for the same claim replays it; a close() has removed the buffer
                if (this.#epoch !== epoch) {
                    return 'interrupted';
                }
                if (this.#unclaimedOverflow) {
                    // A newer connection came after a send was refused: it gets a fresh client, not a gap
                    return 'lost';
                }
                replay = claimed.messages;
            } catch (error) {
                if (fromElsewhere) {
                    if (this.#epoch !== epoch && this.state !== 'waiting') {
                        return 'interrupted';
                    }
                    // Whether another node holds it is unknown: the connection starts afresh
                    this.#host.contextLogger(this).error(`Claiming client ${this.clientId} from another node failed`, error);
                    return 'lost';
                }
                if (this.#epoch !== epoch) {
                    return 'interrupted';
                }
                if (error instanceof BufferLostError) {
                    return 'lost';
                }
                this.#host.contextLogger(this).error(`Reading the reconnect buffer of client ${this.clientId} failed; closing so that it retries`, error);
                this.flushed(socket).close(1011, 'Reconnect buffer unavailable');
                return 'interrupted';
            }
        }
        if (this.#epoch !== epoch) {
            // Dropped again while reading: the buffer is untouched and the queue went into it
            return 'interrupted';
        }
        if (lastSeq !== null && this.#lastSeq !== null && lastSeq > this.#lastSeq) {
            // The client has messages this server never numbered: the two do not agree, so start afresh
            // rather than let the client drop what comes as duplicates
            this.#host.contextLogger(this).warn(`Client ${this.clientId} says it has message ${lastSeq}, but only ${this.#lastSeq} were sent: it cannot resume`);
            return 'lost';
        }
        if (lastSeq !== null && this.#lastSeq !== null) {
            replay = replay.filter((frame) => (seqOfEnvelope(frame) ?? Infinity) > lastSeq);
        }
        // The first frame of the turn: the replay after it is queued and leaves in one write
        this.#host.writes.beforeWrite(socket);
        this.flushed(socket).send(this.idFrame());
        this.#resumeQueue = null;
        this.#state = 'open';
        // Nobody waits for the replayed frames: a drop before they are written must not reject unobserved
        let replayed: Promise<void> | null = null;
        for (const frame of replay) {
            const written = this.deliver(frame, null);
            if (written !== replayed) {
                replayed = written;
                written.catch(ignore);
            }
        }
        this.#acks?.markReplay();
        // The replay is kept as unacknowledged on this connection now, so the buffer can go
        buffer?.remove().catch((error: unknown) => {
            this.#host.contextLogger(this).error(`Deleting the reconnect buffer of client ${this.clientId} failed`, error);
        });
        queue.forEach((message) => this.deliver(this.number(message), message));
        this.#host.contextLogger(this).info(`Client ${this.clientId} resumed, ${replay.length} buffered message(s) replayed`);
        return 'resumed';
    }

    /**
     * Find out whether the current connection is alive: ping it and wait for any pong, at most timeoutMs.
     * (A client that reconnects with its id while we still hold a connection may have lost that one
     * without a trace, or may be a second tab that copied the id.)
     */
    probe(timeoutMs: number): Promise<ProbeOutcome> {
        const socket = this.#socket;
        if (!socket || !isOpen(socket)) {
            return Promise.resolve('gone');
        }
        if (this.#probe) {
            // One probe answers every request that waits for it
            return this.#probe.promise;
        }
        let resolve: (outcome: ProbeOutcome) => void = () => undefined;
        const promise = new Promise<ProbeOutcome>((done) => {
            resolve = done;
        });
        const timer = setTimeout(() => this.endProbe('gone'), timeoutMs);
        timer.unref();
        this.#probe = {promise, resolve, timer};
        this.flushed(socket).ping(this.#acks ? this.#acks.pingPayload() : undefined);
        return promise;
    }

    /**
     * A pong arrived on the current socket. For a plain client it acknowledges the frames sent before its
     * ping. A client of the delivery protocol acknowledges explicitly instead, once its application has the
     * messages (and has stored how far it got): a pong only says that its WebSocket has read them.
     */
    pong(payload: Buffer): void {
        this.alive = true;
        this.endProbe('alive');
        const acks = this.#acks;
        if (!acks) {
            return;
        }
        if (this.#lastSeq === null) {
            if (acks.acknowledgePong(payload.toString()) && acks.needsPing) {
                this.#host.ackWanted(this);
            }
        } else {
            acks.confirmRead(payload.toString());
        }
    }

    /** A client of the delivery protocol says it has every message up to `seq` */
    acknowledgeSeq(seq: number): void {
        this.#acks?.acknowledgeWhile((frame) => (seqOfEnvelope(frame) ?? Infinity) <= seq);
    }

    /**
     * Ping to learn how far the peer has read (which acknowledges, for a plain client). A client that has not
     * answered the previous ping while more is unread than its reconnect buffer could take on a drop is not
     * reading: it is closed as too slow, while what it has not read still fits into the buffer. A client of
     * the delivery protocol that has read messages it does not acknowledge is closed before its
     * unacknowledged messages outgrow the buffer. The replay of a resume comes at once and may fill a whole
     * buffer: closing the client for it would only make it resume (and get it) again. So the rules judge what
     * is sent after the replay, against limits that shrink by what of the replay is still unacknowledged, but
     * never below an eighth of the buffer: a client that keeps reading gets through a full replay.
     */
    pingForAck(): void {
        const socket = this.#socket;
        const acks = this.#acks;
        if (!socket || !isOpen(socket) || !acks) {
            return;
        }
        const replayed = acks.unackedBytes - acks.unackedBytesBeyondReplay;
        const floor = this.#host.bufferMaxBytes / 8;
        if (acks.awaitingPong && acks.unreadBytesBeyondReplay > Math.max(this.maxUnacknowledgedBytes() - replayed, floor)) {
            this.closeAsTooSlow(socket, `${acks.unreadBytesBeyondReplay} bytes sent and not read, more than would fit into its reconnect buffer`);
        } else if (this.#lastSeq !== null && acks.readUnackedBytesBeyondReplay > 0 &&
            acks.unackedBytesBeyondReplay > Math.max(this.maxReadUnacknowledgedBytes() - replayed, floor)) {
            this.closeAsTooSlow(socket, `${acks.unackedBytesBeyondReplay} bytes sent and not acknowledged, more than would fit into its reconnect buffer`);
        } else if (acks.needsPing) {
            this.flushed(socket).ping(acks.pingPayload());
        }
    }

    /** The dead peer check's ping; it also asks for an acknowledgement */
    ping(): void {
        const socket = this.#socket;
        if (socket) {
            this.flushed(socket).ping(this.#acks ? this.#acks.pingPayload() : undefined);
        }
    }

    /**
     * Remove the client for good: close the socket (if any) with the given code, drop its buffer. What was
     * handed to an open socket goes out before the close frame, and its promises settle by those writes. On a
     * socket already closing, whatever is not yet confirmed rejects (the batcher may have dropped some of it),
     * as does what was held back.
     */
    close(code: number, reason: string): void {
        const open = this.#socket && isOpen(this.#socket) ? this.#socket : null;
        const raw = open ? rawSocket(open) : null;
        if (open && raw) {
            this.#host.writes.flushSocket(open);
            this.settleByWrites(raw);
        }
        const socket = this.release();
        if (socket) {
            this.flushed(socket).close(code, reason);
        }
    }

    /**
     * The messages handed to the socket and not yet confirmed settle once the socket has written them: an
     * empty write behind them says when (a write cut off by destroying the socket counts as failed, as in
     * writeCallback)
     */
    private settleByWrites(raw: RawSocket): void {
        const unconfirmed = this.#unconfirmed;
        if (!unconfirmed) {
            return;
        }
        const handed = unconfirmed.filter((message) => message.seq !== 0);
        if (handed.length === 0) {
            return;
        }
        this.#unconfirmed = unconfirmed.filter((message) => message.seq === 0);
        raw.write(NOTHING, (error) => {
            if (error || raw.destroyed) {
                const gone = new ClientGoneError(this.clientId);
                handed.forEach((message) => message.reject(gone));
            } else {
                handed.forEach((message) => message.resolve());
            }
        });
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
        this.#onWritten = null;
        this.alive = false;
        this.clearReconnectTimer();
        this.endProbe('gone');
        this.takeUndelivered().pending.forEach((message) => message.reject(new ClientGoneError(this.clientId)));
        this.discardBuffer();
        return socket;
    }

    /** What a store records of this client while it waits, and what a claim must match */
    private session(): BufferedSession {
        return {username: this.user.username, connectPath: this.connectPath, sequenced: this.#lastSeq !== null, lastSeq: this.#lastSeq ?? 0};
    }

    /** Resolves when every buffer operation asked for so far has finished */
    buffered(): Promise<void> {
        return this.#buffer ? this.#buffer.settled() : Promise.resolve();
    }

    /**
     * Write a frame to the open socket, or hold it back if the socket is closing or the client too slow.
     * `pending` is the message's promise if it has one already (it waited for a replay).
     */
    private deliver(frame: string, pending: Pending | null): Promise<void> {
        const socket = this.#socket;
        let acks = this.#acks;
        if (!acks && this.#host.bufferStore) {
            acks = this.#acks = new AckTracker();
        }
        acks?.add(frame);
        // (ws has a TCP socket under every open WebSocket; without one, nothing could be written)
        const raw = socket && isOpen(socket) ? rawSocket(socket) : null;
        if (!socket || !raw) {
            return this.holdBack(socket, pending ?? new Pending(frame));
        }
        const writes = this.#host.writes;
        const onWritten = this.#onWritten ??= this.writeCallback();
        if (writes.beforeWrite(socket)) {
            // The first frame of a turn goes out at once; those queued after it share a new turn entry
            this.#turnEntry = null;
            if (socket.bufferedAmount > this.#host.maxUnsentBytes) {
                this.closeAsTooSlow(socket, `${socket.bufferedAmount} bytes not yet sent, more than maxUnsentBytesPerClient (${this.#host.maxUnsentBytes})`);
                return this.holdBack(socket, pending ?? new Pending(frame));
            }
            // Without a write callback (which costs Node allocations per write) if nothing is pending that it
            // must settle after, and not on TLS, where no write completes at once
            if (!raw.encrypted && raw.writableLength === 0 && this.#confirmedSeq === this.#writeSeq) {
                raw.write(writes.frameOf(frame));
                // Taken at once (a write that failed at once also leaves nothing pending, but marks the socket):
                // nothing to wait for; the promise resolves once Node has run the write callbacks, see writes-settled
                if (raw.writableLength === 0 && !raw.errored && !raw.destroyed) {
                    this.wantAck(acks);
                    pending?.resolve();
                    return pending ? pending.promise : writesSettled();
                }
                // It was taken only in part: an empty write behind it says when the rest is out
                raw.write(NOTHING, onWritten);
            } else {
                raw.write(writes.frameOf(frame), onWritten);
            }
        } else {
            writes.queue(socket, writes.frameOf(frame), onWritten);
        }
        // Counted after the write is handed on: a write callback never runs synchronously
        const seq = ++this.#writeSeq;
        this.wantAck(acks);
        if (!pending && this.#turnEntry) {
            // Settled with the last frame of the turn (frames to buffer come from the AckTracker, not from here)
            this.#turnEntry.seq = seq;
            return this.#turnEntry.promise;
        }
        const entry = pending ?? new Pending(frame);
        entry.seq = seq;
        (this.#unconfirmed ??= []).push(entry);
        // A message with a promise of its own (it waited for a replay) keeps it; later ones queue behind it
        this.#turnEntry = pending ? null : entry;
        return entry.promise;
    }

    /**
     * What may be in flight unacknowledged: it all goes into the reconnect buffer on a drop, together with
     * what is held back while closing (up to maxUnsentBytes), so it must leave room for that
     */
    private maxUnacknowledgedBytes(): number {
        const {bufferMaxBytes, maxUnsentBytes} = this.#host;
        return Math.max(bufferMaxBytes - 2 * maxUnsentBytes, bufferMaxBytes / 4);
    }

    /** The same for a client that reads (nothing more piles up unsent) but acknowledges later */
    private maxReadUnacknowledgedBytes(): number {
        const {bufferMaxBytes, maxUnsentBytes} = this.#host;
        return Math.max(bufferMaxBytes - maxUnsentBytes, bufferMaxBytes / 2);
    }

    /**
     * This client's setClientId. With buffering on, a client of the delivery protocol is asked to acknowledge
     * well before it gets near maxReadUnacknowledgedBytes: an eighth of it, in characters (which take up to 3
     * bytes each), at most the library's own 64 Ki.
     */
    idFrame(): string {
        const ackAfterChars = this.#lastSeq !== null && this.#host.bufferStore
            ? Math.max(1, Math.min(ACK_AFTER_CHARS_MAX, Math.floor(this.maxReadUnacknowledgedBytes() / 8)))
            : null;
        return setClientIdFrame(this.clientId, this.#lastSeq !== null, ackAfterChars);
    }

    private writeCallback(): (error?: Error | null, frames?: number) => void {
        const epoch = this.#epoch;
        const raw = this.#socket ? rawSocket(this.#socket) : null;
        return (error, frames = 1) => {
            // On an error the socket is going down; its close event puts the messages into the buffer (or
            // rejects them). Node also reports a write cut off by destroying the socket as a success: such a
            // write counts as failed. A late callback of an earlier connection counts for nothing on this one
            if (!error && !raw?.destroyed && epoch === this.#epoch) {
                this.confirmWrites(frames);
            }
        };
    }

    /** Write callbacks come in write order: the next `frames` frames have been written */
    private confirmWrites(frames: number): void {
        const confirmed = this.#confirmedSeq += frames;
        const unconfirmed = this.#unconfirmed;
        while (unconfirmed && unconfirmed.length > 0 && unconfirmed[0].seq !== 0 && unconfirmed[0].seq <= confirmed) {
            unconfirmed.shift()?.resolve();
        }
    }

    private wantAck(acks: AckTracker | null): void {
        if (acks) {
            this.#host.ackWanted(this);
        }
    }

    /** The frames queued for the socket go out before what is written to it next (a ping, a close frame) */
    private flushed(socket: WebSocket): WebSocket {
        this.#host.writes.flushSocket(socket);
        return socket;
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
    private closeAsTooSlow(socket: WebSocket, why: string): void {
        this.#host.contextLogger(this).warn(`Client ${this.clientId} has ${why}: closing it as too slow (1013)`);
        // ws cuts the connection off if the peer does not complete the close in time (closeTimeout)
        this.flushed(socket).close(CLOSE_TRY_AGAIN_LATER, 'Client too slow');
    }

    /**
     * Everything of the connection that may not have arrived, oldest first: the frames to buffer (with
     * buffering on: all not acknowledged, then those sent during a replay) and the promises to settle.
     * Nothing of it is kept here afterwards.
     */
    private takeUndelivered(): {frames: Array<string>; pending: Array<Pending>} {
        const pending = this.#unconfirmed ?? [];
        this.#unconfirmed = null;
        this.#turnEntry = null;
        this.#heldBytes = 0;
        // Every write so far is settled now: confirmed, or among the undelivered
        this.#confirmedSeq = this.#writeSeq;
        const frames = this.#acks ? this.#acks.takeAll() : pending.map((message) => message.data);
        this.#acks = null;
        if (this.#resumeQueue) {
            for (const message of this.#resumeQueue) {
                frames.push(this.number(message));
                pending.push(message);
            }
            this.#resumeQueue = null;
        }
        return {frames, pending};
    }

    /** The frame of a queued message, numbered now (in queue order) if it is not yet */
    private number(message: Pending): string {
        if (!message.numbered) {
            message.numbered = true;
            if (this.#lastSeq !== null) {
                message.data = envelope(++this.#lastSeq, message.data);
            }
        }
        return message.data;
    }

    /** One claim from the shared store, whichever connection asks while it runs */
    private claimFromElsewhere(buffer: ClientBufferQueue): Promise<ClaimedBuffer | null> {
        if (!this.#claim) {
            const claim = buffer.claim(this.session());
            this.#claim = claim;
            const done = (): void => {
                if (this.#claim === claim) {
                    this.#claim = null;
                }
            };
            claim.then(done, done);
        }
        return this.#claim;
    }

    private endProbe(outcome: ProbeOutcome): void {
        const probe = this.#probe;
        if (probe) {
            this.#probe = null;
            clearTimeout(probe.timer);
            probe.resolve(outcome);
        }
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
