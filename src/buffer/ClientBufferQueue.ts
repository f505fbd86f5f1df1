import type {ReconnectBufferStore} from './ReconnectBufferStore';

export class ReconnectBufferOverflowError extends Error {
    constructor(clientId: string, maxBytes: number) {
        super(`The reconnect buffer of client ${clientId} would exceed ${maxBytes} bytes`);
        this.name = 'ReconnectBufferOverflowError';
    }
}

type Batch = {
    readonly messages: Array<string>;
    done: Promise<void>;
};

/**
 * Serialises the buffer operations of one client so they reach the store in the order they were asked for:
 * an append can never overtake a read or a remove that was asked for first. Appends that arrive while an
 * earlier operation is still running are merged into one store call.
 *
 * It also bounds the buffer: the append that would take it past `maxBytes` is refused, as is every later
 * one until the buffer is removed, and `onOverflow` is called once. A buffer with a gap is worthless for a
 * resume, so the owner is expected to give the client up.
 */
export class ClientBufferQueue {

    private tail: Promise<unknown> = Promise.resolve();
    private openBatch: Batch | null = null;
    // Bytes appended since the last remove, as stored (one line per message)
    private bytes = 0;
    private overflowed = false;

    constructor(
        private readonly store: ReconnectBufferStore,
        private readonly clientId: string,
        private readonly maxBytes: number,
        private readonly onOverflow: () => void,
    ) {
    }

    /** Resolves once the message is stored, together with every message appended before it */
    append(message: string): Promise<void> {
        const size = Buffer.byteLength(message) + 1;
        if (this.overflowed || this.bytes + size > this.maxBytes) {
            if (!this.overflowed) {
                this.overflowed = true;
                this.onOverflow();
            }
            return Promise.reject(new ReconnectBufferOverflowError(this.clientId, this.maxBytes));
        }
        this.bytes += size;
        let batch = this.openBatch;
        if (!batch) {
            const newBatch: Batch = {messages: [], done: Promise.resolve()};
            newBatch.done = this.enqueue(() => {
                // From here on the batch is being written: later appends start the next one
                if (this.openBatch === newBatch) {
                    this.openBatch = null;
                }
                return this.store.append(this.clientId, newBatch.messages);
            });
            this.openBatch = newBatch;
            batch = newBatch;
        }
        batch.messages.push(message);
        return batch.done;
    }

    /** Every stored message, after all appends asked for before this call */
    readAll(): Promise<Array<string>> {
        this.openBatch = null;
        return this.enqueue(() => this.store.readAll(this.clientId));
    }

    /** Delete the stored messages, after all operations asked for before this call */
    remove(): Promise<void> {
        this.openBatch = null;
        this.bytes = 0;
        this.overflowed = false;
        return this.enqueue(() => this.store.remove(this.clientId));
    }

    /** Resolves when every operation asked for so far has finished (successfully or not) */
    settled(): Promise<void> {
        return this.tail.then(() => undefined);
    }

    private enqueue<T>(operation: () => Promise<T>): Promise<T> {
        const result = this.tail.then(operation);
        this.tail = result.catch(() => undefined);
        return result;
    }
}
