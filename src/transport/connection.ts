import type WebSocket from 'ws';
import {seqOfEnvelope} from '../protocol/delivery-envelope';
import {CLOSE_TRY_AGAIN_LATER} from '../protocol/wire';
import {userAndPath} from '../protocol/client-label';
import {AckTracker} from './ack-tracker';
import {closeIfOverShare, cutOffReason, judgeAcknowledgements} from './flow-control';
import type {ClientConnection, ConnectionEnv, ConnectionOwner, Undelivered} from './client-connection';
import {LivenessProbe} from './liveness-probe';
import type {ProbeOutcome} from './liveness-probe';
import {ClientGoneError, PendingMessage} from './pending-message';
import type {Batched, QueuedFrames} from './turn-batcher';
import {WriteLedger} from './write-ledger';
import {isOpen} from './ws-adapter';
import type {RawSocket} from './ws-adapter';

/** For a write of Node's (one frame) and of the batcher (the frames written together) alike */
type WriteCallback = (error?: Error | null, frames?: number) => void;

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
    // Messages written (or held back) but not yet known to be written through; made on first use
    #ledger: WriteLedger | null = null;
    // null once the client is done with the connection
    #client: Owner | null;
    // What it counts in the memory budget: see heldBytes
    #counted = 0;
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

    get heldBytes(): number {
        return this.#counted;
    }

    get behindBytes(): number {
        return this.#acks ? this.#acks.behindBytes : this.socket.bufferedAmount;
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
        if (acks) {
            this.count(acks.add(frame));
        }
        const socket = this.socket;
        if (!isOpen(socket)) {
            return this.holdBack(pending ?? new PendingMessage(frame));
        }
        const {writes, maxUnsentBytes} = this.#env;
        const raw = this.raw;
        const onWritten = this.#onWritten ??= this.writeCallback();
        if (writes.beforeWrite(this)) {
            // The first frame of a turn goes out at once; those queued after it share a new turn entry
            this.#ledger?.newTurn();
            if (socket.bufferedAmount > maxUnsentBytes) {
                this.closeAsTooSlow(`${socket.bufferedAmount} bytes not yet sent, more than maxUnsentBytesPerClient (${maxUnsentBytes})`);
                return this.holdBack(pending ?? new PendingMessage(frame));
            }
            this.countUnsent();
            if (raw === null) {
                socket.send(frame, onWritten);
            } else if (!raw.encrypted && raw.writableLength === 0 && (this.#ledger === null || this.#ledger.settled)) {
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
        if (acks) {
            this.#env.ackRequests.want(this);
        }
        // Recorded after the write is handed on: a write callback never runs synchronously
        return (this.#ledger ??= new WriteLedger()).written(frame, pending);
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
        this.#probe ??= LivenessProbe.start(timeoutMs, () => this.ping(), () => {
            this.#probe = null;
        });
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
            const acknowledged = acks.acknowledgePong(payload.toString());
            this.count(-acknowledged);
            if (acknowledged > 0 && acks.needsPing) {
                this.#env.ackRequests.want(this);
            }
        } else {
            acks.confirmRead(payload.toString());
        }
    }

    /** A client of the delivery protocol says it has every message up to `seq` */
    acknowledgeSeq(seq: number): void {
        if (this.#acks) {
            this.count(-this.#acks.acknowledgeWhile((frame) => (seqOfEnvelope(frame) ?? Infinity) <= seq));
        }
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
            // What was handed to the socket settles once it has written it; what is held back stays
            const handed = this.#ledger ? this.#ledger.takeHanded() : [];
            if (handed.length > 0) {
                settleAfterWrites(this, handed, this.#client?.clientId ?? '');
            }
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
        const pending = this.#ledger ? this.#ledger.takeAll() : [];
        this.#ledger = null;
        // Whoever takes what it hands back counts it from now on
        this.count(-this.#counted);
        const frames = this.#acks ? this.#acks.takeAll() : pending.map((message) => message.data);
        this.#acks = null;
        return {frames, pending};
    }

    /** Count `bytes` more (or fewer) as held by it; while the budget is exceeded, one that takes more than its share closes */
    private count(bytes: number): void {
        this.#counted += bytes;
        this.#env.memory.add(bytes);
        if (bytes > 0 && this.#env.memory.shareLimit !== Infinity) {
            closeIfOverShare(this.#env.memory, this);
        }
    }

    /**
     * Without buffering it holds what has not left the process and what is held back (with buffering, all of that is
     * among the unacknowledged): read once a turn and when writes complete, not per message (that was 10 % of a burst)
     */
    private countUnsent(): void {
        const unsent = this.#acks ? this.#counted : this.socket.bufferedAmount + (this.#ledger ? this.#ledger.heldBackBytes : 0);
        if (unsent !== this.#counted) {
            this.count(unsent - this.#counted);
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
                this.#ledger?.confirm(frames);
            }
            if (this.#counted !== 0) {
                this.countUnsent();
            }
        };
    }

    /** What is queued goes out before what is written next through ws (a ping's pong acknowledges what came before it) */
    private flushed(): WebSocket {
        this.#env.writes.flushConnection(this);
        return this.socket;
    }

    /** A peer that holds a closing connection open must not make us hold messages without bound either */
    private holdBack(message: PendingMessage): Promise<void> {
        const ledger = this.#ledger ??= new WriteLedger();
        const heldBack = ledger.heldBack(message, Buffer.byteLength(message.data));
        this.countUnsent();
        const why = cutOffReason(heldBack, this.socket.bufferedAmount, this.#env);
        if (why && ledger.cutOff()) {
            if (this.#client) {
                this.#env.logger(this.#client).warn(`Client ${this.#client.clientId} is closing but ${why}: cutting it off${userAndPath(this.#client)}`);
            }
            this.socket.terminate();
        }
        return message.promise;
    }

    /** A client that does not read must not make us hold its messages in memory without bound */
    closeAsTooSlow(why: string): void {
        const client = this.#client;
        if (client) {
            this.#env.logger(client).warn(`Client ${client.clientId} has ${why}: closing it as too slow (1013)${userAndPath(client)}`);
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
