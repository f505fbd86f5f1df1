import type WebSocket from 'ws';
import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {Labelled} from '../protocol/client-label';
import type {FlowLimits} from './flow-control';
import type {ProbeOutcome} from './liveness-probe';
import type {MemoryBudget} from './memory-budget';
import type {PendingMessage} from './pending-message';
import type {TurnBatcher} from './turn-batcher';
import type {WritesSettled} from './writes-settled';
import type {WsAdapter} from './ws-adapter';

/** What all connections of one server share */
export interface ConnectionEnv extends FlowLimits {
    readonly writes: TurnBatcher;
    readonly settled: WritesSettled;
    readonly adapter: WsAdapter;
    /** Asks for acknowledgements: pings the connection a little later (see pingForAck) */
    readonly ackRequests: {want(connection: {pingForAck(): void}): void};
    /** Whether frames are kept until acknowledged (reconnect buffering is on) */
    readonly keepsUnacknowledged: boolean;
    /** Where the bytes a connection holds are counted */
    readonly memory: MemoryBudget;
    logger(owner: ConnectionOwner): MashroomLogger;
}

/** The client a connection serves, as the connection sees it */
export interface ConnectionOwner extends Labelled {
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

/** A connection as the client it serves uses it (a fake one will do in a unit test of the client) */
export interface ClientConnection {
    readonly socket: WebSocket;
    /** Bytes of messages it holds: not acknowledged (with buffering on), not yet written, held back while closing */
    readonly heldBytes: number;
    /** What the peer has had time to read but has not (see AckTracker.behindBytes); without buffering, what the operating system would not take */
    readonly behindBytes: number;
    /** Ask for acknowledgements now (or close it as too slow, see flow-control) */
    pingForAck(): void;
    deliver(frame: string, pending: PendingMessage | null): Promise<void>;
    sendUntracked(data: string | Buffer): void;
    replay(idFrame: string, frames: ReadonlyArray<string>): void;
    ping(): void;
    probe(timeoutMs: number): Promise<ProbeOutcome>;
    /** Close it with 1013 (its client goes on as after any drop): it holds too much for a client that reads */
    closeAsTooSlow(why: string): void;
    terminate(): void;
    end(code: number, reason: string): Undelivered;
    detach(): Undelivered;
}
