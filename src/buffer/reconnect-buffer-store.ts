/** What a store knows of a client that waits for a reconnect, and what a claimant must match */
export type BufferedSession = {
    readonly username: string;
    readonly connectPath: string;
    /** Speaks the delivery protocol */
    readonly sequenced: boolean;
    /** The number of its last message so far (delivery protocol), 0 otherwise */
    readonly lastSeq: number;
};

/** A waiting client as a drain leaves it to the next process */
export type SealedClient = {
    readonly clientId: string;
    readonly session: BufferedSession;
    /** When its reconnect window ends (ms since the epoch) */
    readonly deadline: number;
};

/** A buffer claimed for a replay */
export type ClaimedBuffer = {
    readonly messages: Array<string>;
    /** How many messages the store recorded as appended, if it keeps count (to detect a buffer cut short) */
    readonly recorded: number | null;
    /** The session as recorded when the client started waiting, if the store keeps it */
    readonly session: BufferedSession | null;
};

/**
 * Keeps the messages sent to a client while it is disconnected and may still resume.
 * Messages are opaque serialised frames; a store keeps the order in which they were appended.
 * Callers serialise the operations on one client (see ClientBufferQueue), so a store need not.
 *
 * Two implementations: a folder of files for one node (FileReconnectBufferStore), and Redis for a cluster
 * (RedisReconnectBufferStore), where a client may resume on another node than the one it dropped from.
 */
export interface ReconnectBufferStore {
    /** Where the messages go, for log lines */
    readonly description: string;

    /** Whether the store works right now (a shared one may be unreachable for a while) */
    readonly available: boolean;

    /**
     * Whether the store may hold a waiting client this process does not know: one that dropped from another node
     * (a shared store, while it is reachable), or one that an earlier process drained into it (`seal`)
     */
    mayHold(clientId: string): boolean;

    /**
     * Whether the store holds the client waiting for a claim by this user on this connect path, as far as it can
     * tell now (the claim decides): for a request that names a client only by its cookie, which is worth a claim
     * only if it is there
     */
    waits(clientId: string, claimant: Pick<BufferedSession, 'username' | 'connectPath'>): Promise<boolean>;

    /**
     * A client starts waiting for a reconnect: keep its messages for ttlMs (its reconnect window), starting
     * with `messages` (what its connection had not acknowledged). A shared store does it in one step: a claim
     * by another node sees the client with all of them or not at all. A buffer this node already holds for it
     * (a replay that was cut short) is kept, the messages appended to it; `continuing` as for append.
     */
    open(clientId: string, session: BufferedSession, ttlMs: number, messages: ReadonlyArray<string>, continuing: boolean): Promise<void>;

    /**
     * Append the messages, in order, to the client's buffer. `continuing` says that earlier messages were
     * stored: then the buffer must still exist, and a store that finds it gone rejects with BufferLostError
     * rather than starting a new buffer with a gap. A shared store rejects with BufferClaimedError once another
     * node has taken the buffer.
     */
    append(clientId: string, messages: ReadonlyArray<string>, continuing: boolean): Promise<void>;

    /**
     * Claim the client's buffer for a replay: its messages (the buffer stays until `remove`, so a replay cut
     * short loses nothing), and from now on this node holds it; a shared store tells the node that held it.
     * Resolves to null if there is none to claim for this claimant (unknown, expired, claimed by another node,
     * another user or connect path). Of several nodes racing for one client, exactly one gets it.
     */
    claim(clientId: string, claimant: BufferedSession): Promise<ClaimedBuffer | null>;

    /** Delete the client's buffer, if this node still holds it; no error if there is none */
    remove(clientId: string): Promise<void>;

    /** Delete the buffers this store may consider leftovers of a previous process */
    clear(): Promise<void>;

    /**
     * At start: take up the clients an earlier process drained into the store (see `seal`) whose window has not
     * passed, each to be claimed by a resume until its deadline; delete every other leftover. Resolves to how many
     * were taken up.
     */
    restore(): Promise<number>;

    /**
     * At the end of a drain, once every buffer operation has settled: make what the store holds of these waiting
     * clients last beyond this process, complete and verifiable by the next one (a store shared by the nodes has
     * nothing more to do). What it cannot take in by the deadline (a time in ms) is left out; resolves to the ids of
     * those of `clients` it kept. The folder is let go with the seal: a process that starts meanwhile may use it
     */
    seal(clients: ReadonlyArray<SealedClient>, deadline: number): Promise<ReadonlyArray<string>>;

    /** Learn that a buffer this node held was claimed by another node */
    onClaimedElsewhere(listener: (clientId: string) => void): void;

    /** Release what the store holds for its owner (a lock, connections); the buffers stay */
    close(): Promise<void>;
}

/** The buffer of a client is not what was stored: it cannot be replayed in full */
export class BufferLostError extends Error {
    constructor(clientId: string, detail: string) {
        super(`The reconnect buffer of client ${clientId} was lost: ${detail}`);
        this.name = 'BufferLostError';
    }
}

/** Another node claimed the client (it resumes there) */
export class BufferClaimedError extends Error {
    constructor(clientId: string) {
        super(`Client ${clientId} resumed on another node`);
        this.name = 'BufferClaimedError';
    }
}
