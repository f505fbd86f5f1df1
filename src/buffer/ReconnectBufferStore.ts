/**
 * Keeps the messages sent to a client while it is disconnected and may still resume.
 * Messages are opaque serialised frames; a store keeps the order in which they were appended.
 * Callers serialise the operations on one client (see ClientBufferQueue), so a store need not.
 */
export interface ReconnectBufferStore {
    /** Where the messages go, for log lines */
    readonly description: string;

    /** Append the messages, in order, to the client's buffer */
    append(clientId: string, messages: ReadonlyArray<string>): Promise<void>;

    /** Every message of the client's buffer, oldest first; empty if there is none */
    readAll(clientId: string): Promise<Array<string>>;

    /** Delete the client's buffer; no error if there is none */
    remove(clientId: string): Promise<void>;

    /** Delete every buffer of this store (at start and at unload) */
    clear(): Promise<void>;
}
