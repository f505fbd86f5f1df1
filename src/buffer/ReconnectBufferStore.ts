/**
 * Keeps the messages sent to a client while it is disconnected and may still resume.
 * Messages are opaque serialised frames; a store keeps the order in which they were appended.
 * Callers serialise the operations on one client (see ClientBufferQueue), so a store need not.
 */
export interface ReconnectBufferStore {
    /** Where the messages go, for log lines */
    readonly description: string;

    /**
     * Append the messages, in order, to the client's buffer. `continuing` says that earlier messages were
     * stored: then the buffer must still exist, and a store that finds it gone (deleted from outside)
     * rejects with BufferLostError rather than starting a new buffer with a gap.
     */
    append(clientId: string, messages: ReadonlyArray<string>, continuing: boolean): Promise<void>;

    /** Every message of the client's buffer, oldest first; empty if there is none */
    readAll(clientId: string): Promise<Array<string>>;

    /** Delete the client's buffer; no error if there is none */
    remove(clientId: string): Promise<void>;

    /** Delete every buffer of this store (at start: buffers of a previous process cannot be resumed) */
    clear(): Promise<void>;

    /** Release what the store holds for its owner (a lock, a connection); the buffers stay */
    close(): Promise<void>;
}

/** The buffer of a client is not what was stored: it cannot be replayed in full */
export class BufferLostError extends Error {
    constructor(clientId: string, detail: string) {
        super(`The reconnect buffer of client ${clientId} was lost: ${detail}`);
        this.name = 'BufferLostError';
    }
}
