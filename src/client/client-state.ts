import type WebSocket from 'ws';
import type {ClaimedBuffer} from '../buffer/reconnect-buffer-store';
import type {ClientConnection} from '../transport/client-connection';
import type {PendingMessage} from '../transport/pending-message';
import type {HeldMessages} from './held-messages';

/**
 * The states of a client (the diagram in docs/ARCHITECTURE.md names the same ones). Each carries exactly what
 * exists in it; only the named transitions of ServerClient change the state.
 */
export type ClientState = Open | Resuming | Claiming | Waiting | Closed;

/** Connected: messages go to the connection */
export type Open = {
    readonly kind: 'open';
    readonly connection: ClientConnection;
};

/** Reconnected: the reconnect buffer is being read (claimed); messages sent meanwhile are held to follow the replay */
export type Resuming = {
    readonly kind: 'resuming';
    readonly connection: ClientConnection;
    readonly held: HeldMessages;
    readonly claim: Claim;
    /** What a client of the delivery protocol says it has (its lastSeq), or null */
    readonly clientHas: number | null;
    /** Settled when the resume of this connection has an outcome */
    readonly outcome: Outcome;
};

/** A client of another node whose claim runs with no connection waiting for it (it went away); messages are held */
export type Claiming = {
    readonly kind: 'claiming';
    readonly held: HeldMessages;
    readonly claim: Claim;
};

/** Disconnected within the reconnect window: messages go to the reconnect buffer */
export type Waiting = {
    readonly kind: 'waiting';
    /** Ends the reconnect window */
    readonly timer: NodeJS.Timeout;
    /** When the window ends (ms since the epoch), for a drain to hand on */
    readonly deadline: number;
    /** What it waits after: its connection went away, or it was claimed from another node without one */
    readonly from: 'connection' | 'claim';
};

/** Gone for good */
export type Closed = {readonly kind: 'closed'};

export const CLOSED: Closed = {kind: 'closed'};

/** Reading a client's reconnect buffer for a replay; one per resume, or one for all connections that want a client of another node */
export type Claim = {
    readonly fromElsewhere: boolean;
};

export type ClaimResult =
    | {readonly ok: true; readonly claimed: ClaimedBuffer | null}
    | {readonly ok: false; readonly error: unknown};

export type ResumeOutcome =
    /** The connection serves the client again, after the replay */
    | {readonly kind: 'resumed'}
    /** The connection went away, or another took its place, before the replay: nothing to do */
    | {readonly kind: 'superseded'}
    /** The client cannot resume in full and is closed: serve the socket as a new client */
    | {readonly kind: 'fresh'; readonly socket: WebSocket}
    /** The buffer could not be read: the connection was closed (1011) so that it tries again; the client waits */
    | {readonly kind: 'retry'}
    /** A fault: the client is closed, and the connection with 1011 */
    | {readonly kind: 'failed'};

export type Outcome = {
    readonly promise: Promise<ResumeOutcome>;
    readonly settle: (outcome: ResumeOutcome) => void;
};

export const newOutcome = (): Outcome => {
    let settle: (outcome: ResumeOutcome) => void = () => undefined;
    const promise = new Promise<ResumeOutcome>((resolve) => {
        settle = resolve;
    });
    return {promise, settle};
};

/** How the connection of a client that leaves its state is let go: closed with a code, handed over as it is, or already gone */
export type Release = {readonly code: number; readonly reason: string} | 'hand-over' | 'gone';

/** What a connection that went away leaves the client in */
export type LostOutcome = 'waiting' | 'claiming' | 'closed' | 'not-current';

/**
 * Everything a state holds for delivery, oldest first (what its connection did not get across, then what was held,
 * numbered now by `number`), and its connection let go as `release` says; the socket if it is handed over
 */
export const takeUndelivered = (state: ClientState, release: Release, number: (data: string) => string):
    {frames: Array<string>; pending: Array<PendingMessage>; socket: WebSocket | null} => {
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
            message.data = number(message.data);
            frames.push(message.data);
            pending.push(message);
        }
    }
    return {frames, pending, socket};
};
