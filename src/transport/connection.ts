import type WebSocket from 'ws';
import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import {seqOfEnvelope} from '../protocol/delivery-envelope';
import {CLOSE_TRY_AGAIN_LATER} from '../protocol/wire';
import {AckTracker} from './ack-tracker';
import {judgeAcknowledgements} from './flow-control';
import type {FlowLimits} from './flow-control';
import {LivenessProbe} from './liveness-probe';
import type {ProbeOutcome} from './liveness-probe';
import {ClientGoneError, PendingMessage} from './pending-message';
import type {Batched, QueuedFrames, TurnBatcher} from './turn-batcher';
import type {WritesSettled} from './writes-settled';
import {isOpen} from './ws-adapter';
import type {RawSocket, WsAdapter} from './ws-adapter';

export type {ProbeOutcome};

/** What all connections of one server share */
export interface ConnectionEnv extends FlowLimits {
    readonly writes: TurnBatcher;
    readonly settled: WritesSettled;
    readonly adapter: WsAdapter;
    /** Asks for acknowledgements: pings the connection a little later (see pingForAck) */
    readonly ackRequests: {want(connection: Connection): void};
    /** Whether frames are kept until acknowledged (reconnect buffering is on) */
    readonly keepsUnacknowledged: boolean;
    logger(owner: ConnectionOwner): MashroomLogger;
}

/** The client a connection serves, as the connection sees it */
export interface ConnectionOwner {
    readonly clientId: string;
    readonly loggerContext: Readonly<Record<string, unknown>>;
    /** Speaks the delivery protocol, so it acknowledges explicitly, not by pongs */
    readonly sequenced: boolean;
    /** Set when a pong arrives: the dead-peer check clears it and pings */
    alive: boolean;
}

/** What a connection had not got across when its client was done with it, oldest first */
export type Undelivered = {
    /** The frames that may not have arrived (with buffering on: every frame not acknowledged) */
    readonly frames: Array<string>;
    /** The promises of the messages not yet known to be written */
    readonly pending: Array<PendingMessage>;
};

/** For a write of Node's (one frame) and of the batcher (the frames written together) alike */
type WriteCallback = (error?: Error | null, frames?: number) => void;

/** A connection as the client it serves uses it (a fake one will do in a unit test of the client) */
export interface ClientConnection {
    readonly socket: WebSocket;
    deliver(frame: string, pending: PendingMessage | null): Promise<void>;
    sendUntracked(data: string | Buffer): void;
    replay(idFrame: string, frames: ReadonlyArray<string>): void;
    ping(): void;
    probe(timeoutMs: number): Promise<ProbeOutcome>;
    terminate(): void;
    end(code: number, reason: string): Undelivered;
    detach(): Undelivered;
}

const NOTHING = Buffer.alloc(0);
const ignore = (): void => undefined;
const TEXT_FRAME = {binary: false} as const;

/**
 * One WebSocket as one client uses it: the write path with its flow control, and what the peer has
 * acknowledged. It lives as long as its client uses the socket (the way ws has a Sender and a Receiver per
 * socket); then `detach` (or `end`) hands back what did not get across, and nothing of it can reach the
 * connection that follows. A message written is settled by the write callbacks of its frames, counted in
 * write order; one the operating system takes at once is settled without a callback (docs/ARCHITECTURE.md,
 * "Write path").
 */
export class Connection<Owner extends ConnectionOwner = ConnectionOwner> implements Batched, ClientConnection {

    // The fields a message touches come first, in the order it touches them: with many clients, a send's cost is
    // mostly the memory it has to fetch
    readonly socket: WebSocket;
    readonly #env: ConnectionEnv;
    readonly raw: RawSocket | null;
    // Frames not yet acknowledged (only with buffering on); made on first use
    #acks: AckTracker | null = null;
    // One write callback for all messages of the connection, made on first use: no closure per message
    #onWritten: WriteCallback | null = null;
    turn = -1;
    queued: QueuedFrames | null = null;
    // Frames written with a callback, and frames that write callbacks confirmed
    #writeSeq = 0;
    // The messages of a turn after the first leave in one write: one entry, settled with the last of them
    #turnEntry: PendingMessage | null = null;
    // Messages written (or held back) but not yet known to be written through; oldest first
    #unconfirmed: Array<PendingMessage> | null = null;
    #confirmedSeq = 0;
    // null once the client is done with the connection
    #client: Owner | null;
    // Bytes held back because the socket is closing (nothing can be written any more)
    #heldBytes = 0;
    #probe: LivenessProbe | null = null;

    constructor(socket: WebSocket, env: ConnectionEnv, owner: Owner) {
        this.socket = socket;
        this.#env = env;
        this.raw = env.adapter.rawSocketOf(socket);
        this.#client = owner;
    }

    /** The client it serves, or null once the client is done with it */
    get owner(): Owner | null {
        return this.#client;
    }

    get writable(): boolean {
        return isOpen(this.socket);
    }

    /**
     * Write a frame, or hold it back if the socket is closing or the client too slow. `pending` is the message's
     * promise if it has one already (it was held during a resume).
     */
    deliver(frame: string, pending: PendingMessage | null): Promise<void> {
        let acks = this.#acks;
        if (!acks && this.#env.keepsUnacknowledged) {
            acks = this.#acks = new AckTracker();
        }
        acks?.add(frame);
        const socket = this.socket;
        if (!isOpen(socket)) {
            return this.holdBack(pending ?? new PendingMessage(frame));
        }
        const {writes, maxUnsentBytes} = this.#env;
        const raw = this.raw;
        const onWritten = this.#onWritten ??= this.writeCallback();
        if (writes.beforeWrite(this)) {
            // The first frame of a turn goes out at once; those queued after it share a new turn entry
            this.#turnEntry = null;
            if (socket.bufferedAmount > maxUnsentBytes) {
                this.closeAsTooSlow(`${socket.bufferedAmount} bytes not yet sent, more than maxUnsentBytesPerClient (${maxUnsentBytes})`);
                return this.holdBack(pending ?? new PendingMessage(frame));
            }
            if (raw === null) {
                socket.send(frame, onWritten);
            } else if (!raw.encrypted && raw.writableLength === 0 && this.#confirmedSeq === this.#writeSeq) {
                // Without a write callback (which costs Node allocations per write) if nothing is pending that it
                // must settle after, and not on TLS, where no write completes at once
                raw.write(writes.frameOf(frame));
                // Taken at once (a write that failed at once also leaves nothing pending, but marks the socket)
                if (raw.writableLength === 0 && !raw.errored && !raw.destroyed) {
                    if (acks) {
                        this.#env.ackRequests.want(this);
                    }
                    pending?.resolve();
                    return pending ? pending.promise : this.#env.settled.next();
                }
                // Taken only in part: an empty write behind it says when the rest is out
                raw.write(NOTHING, onWritten);
            } else {
                raw.write(writes.frameOf(frame), onWritten);
            }
        } else if (raw === null) {
            socket.send(frame, onWritten);
        } else {
            writes.queue(this, writes.frameOf(frame), onWritten);
        }
        // Counted after the write is handed on: a write callback never runs synchronously
        const seq = ++this.#writeSeq;
        if (acks) {
            this.#env.ackRequests.want(this);
        }
        if (!pending && this.#turnEntry) {
            this.#turnEntry.seq = seq;
            return this.#turnEntry.promise;
        }
        const entry = pending ?? new PendingMessage(frame);
        entry.seq = seq;
        (this.#unconfirmed ??= []).push(entry);
        // A message with a promise of its own keeps it; later ones of the turn queue behind it
        this.#turnEntry = pending ? null : entry;
        return entry.promise;
    }

    /** A text nobody waits for and that is never buffered (the id frame, keep-alive), written by ws after what is queued */
    sendUntracked(data: string | Buffer): void {
        if (isOpen(this.socket)) {
            this.flushed().send(data, TEXT_FRAME);
        }
    }

    /**
     * The start of a resumed connection: the client's id, then the replay, in one write with it. Nobody waits for
     * the replayed frames (a drop before they are written must not reject unobserved); they count as a replay
     * (see AckTracker.markReplay)
     */
    replay(idFrame: string, frames: ReadonlyArray<string>): void {
        this.#env.writes.beforeWrite(this);
        this.sendUntracked(idFrame);
        let last: Promise<void> | null = null;
        for (const frame of frames) {
            const written = this.deliver(frame, null);
            if (written !== last) {
                last = written;
                written.catch(ignore);
            }
        }
        this.#acks?.markReplay();
    }

    /** The dead-peer check's ping; it also asks for an acknowledgement */
    ping(): void {
        this.flushed().ping(this.#acks ? this.#acks.pingPayload() : undefined);
    }

    terminate(): void {
        this.socket.terminate();
    }

    /** Find out whether the connection is alive: ping it and wait for any pong, at most timeoutMs */
    probe(timeoutMs: number): Promise<ProbeOutcome> {
        if (!this.#client || !isOpen(this.socket)) {
            return Promise.resolve('gone');
        }
        if (!this.#probe) {
            this.#probe = new LivenessProbe(timeoutMs);
            this.#probe.promise.then(() => {
                this.#probe = null;
            }, ignore);
            this.ping();
        }
        return this.#probe.promise;
    }

    /**
     * A pong arrived. For a plain client it acknowledges the frames sent before its ping. A client of the delivery
     * protocol acknowledges explicitly, once its application has the messages: a pong only says it read them.
     */
    pong(payload: Buffer): void {
        const client = this.#client;
        if (!client) {
            return;
        }
        client.alive = true;
        this.#probe?.end('alive');
        const acks = this.#acks;
        if (!acks) {
            return;
        }
        if (!client.sequenced) {
            if (acks.acknowledgePong(payload.toString()) && acks.needsPing) {
                this.#env.ackRequests.want(this);
            }
        } else {
            acks.confirmRead(payload.toString());
        }
    }

    /** A client of the delivery protocol says it has every message up to `seq` */
    acknowledgeSeq(seq: number): void {
        this.#acks?.acknowledgeWhile((frame) => (seqOfEnvelope(frame) ?? Infinity) <= seq);
    }

    /** Ping to learn how far the peer has read (which acknowledges, for a plain client), or close a client too slow */
    pingForAck(): void {
        const acks = this.#acks;
        const client = this.#client;
        if (!client || !acks || !isOpen(this.socket)) {
            return;
        }
        const verdict = judgeAcknowledgements(acks, this.#env, client.sequenced);
        if (verdict.kind === 'too-slow') {
            this.closeAsTooSlow(verdict.why);
        } else if (verdict.kind === 'ping') {
            this.flushed().ping(acks.pingPayload());
        }
    }

    /**
     * The client is done with the connection and closes it with `code`. What was handed to an open socket goes
     * out before the close frame, and its promises settle by those writes; the rest is handed back.
     */
    end(code: number, reason: string): Undelivered {
        if (isOpen(this.socket)) {
            this.#env.writes.flushConnection(this);
            this.settleByWrites();
        }
        const undelivered = this.detach();
        this.socket.close(code, reason);
        return undelivered;
    }

    /**
     * The client is done with the connection: the socket closed, or it is served anew. What is queued is dropped
     * (it is among the undelivered), and nothing that happens on the socket reaches the client any more.
     */
    detach(): Undelivered {
        this.queued = null;
        this.#client = null;
        this.#probe?.end('gone');
        const pending = this.#unconfirmed ?? [];
        this.#unconfirmed = null;
        this.#turnEntry = null;
        this.#heldBytes = 0;
        const frames = this.#acks ? this.#acks.takeAll() : pending.map((message) => message.data);
        this.#acks = null;
        return {frames, pending};
    }

    /** The messages handed to the socket settle once it has written them; those held back stay */
    private settleByWrites(): void {
        const unconfirmed = this.#unconfirmed;
        const handed = unconfirmed ? unconfirmed.filter((message) => message.seq !== 0) : [];
        if (unconfirmed && handed.length > 0) {
            this.#unconfirmed = unconfirmed.filter((message) => message.seq === 0);
            settleAfterWrites(this, handed, this.#client?.clientId ?? '');
        }
    }

    private writeCallback(): WriteCallback {
        const raw = this.raw;
        return (error, frames = 1) => {
            // On an error the socket is going down: its close makes the client take the messages back. Node also
            // reports a write cut off by destroying the socket as a success: such a write counts as failed. Through
            // ws (no raw socket) that cannot be told, so a write that completes once the socket left OPEN counts as
            // failed: at worst a message that arrived is buffered again, or reported as not sent
            if (!error && (raw ? !raw.destroyed : isOpen(this.socket))) {
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

    /** What is queued goes out before what is written next through ws (a ping's pong acknowledges what came before it) */
    private flushed(): WebSocket {
        this.#env.writes.flushConnection(this);
        return this.socket;
    }

    /** A peer that holds a closing connection open must not make us hold messages without bound either */
    private holdBack(message: PendingMessage): Promise<void> {
        (this.#unconfirmed ??= []).push(message);
        const before = this.#heldBytes;
        this.#heldBytes += Buffer.byteLength(message.data);
        const max = this.#env.maxUnsentBytes;
        // Once, when the bound is crossed
        if (before <= max && this.#heldBytes > max) {
            const client = this.#client;
            if (client) {
                this.#env.logger(client).warn(`Client ${client.clientId} is closing but more than maxUnsentBytesPerClient (${max}) is held for it: cutting it off`);
            }
            this.socket.terminate();
        }
        return message.promise;
    }

    /** A client that does not read must not make us hold its messages in memory without bound */
    private closeAsTooSlow(why: string): void {
        const client = this.#client;
        if (client) {
            this.#env.logger(client).warn(`Client ${client.clientId} has ${why}: closing it as too slow (1013)`);
        }
        // ws cuts the connection off if the peer does not complete the close in time (closeTimeout)
        this.flushed().close(CLOSE_TRY_AGAIN_LATER, 'Client too slow');
    }
}

/**
 * Settle messages once what was handed to the socket so far is out: a write behind them says when (an empty one,
 * or through ws a ping); a write cut off by destroying the socket counts as failed, as in the write callback
 */
const settleAfterWrites = ({raw, socket}: {readonly raw: RawSocket | null; readonly socket: WebSocket}, messages: Array<PendingMessage>, clientId: string): void => {
    const settle = (error?: Error | null): void => {
        if (error || raw?.destroyed) {
            const gone = new ClientGoneError(clientId);
            messages.forEach((message) => message.reject(gone));
        } else {
            messages.forEach((message) => message.resolve());
        }
    };
    if (raw) {
        raw.write(NOTHING, settle);
    } else {
        socket.ping(undefined, undefined, settle);
    }
};
