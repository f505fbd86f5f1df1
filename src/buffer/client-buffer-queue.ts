import type {MemoryBudget} from '../transport/memory-budget';
import type {BufferBudget} from './buffer-budget';
import {BufferLostError} from './reconnect-buffer-store';
import type {BufferedSession, ClaimedBuffer, ReconnectBufferStore} from './reconnect-buffer-store';
import type {WriteGate} from './write-gate';

export class ReconnectBufferOverflowError extends Error {
    constructor(clientId: string, what: string) {
        super(`The reconnect buffer of client ${clientId} would exceed ${what}`);
        this.name = 'ReconnectBufferOverflowError';
    }
}

/** What the queue tells its client: its buffer can no longer be resumed in full, or could not be deleted */
export type BufferReports = {
    unusable(reason: Error): void;
    removeFailed(error: unknown): void;
};

/** What the buffer queues of all clients of one server share */
export type BufferQueueEnv = {
    /** Largest reconnect buffer of one client */
    readonly maxBytes: number;
    /** What all buffers together may take in the store */
    readonly budget: BufferBudget;
    /** Where messages count from when a queue takes them until the store has them (as queued) */
    readonly memory: MemoryBudget;
    readonly writes: WriteGate;
};

type Batch = {
    readonly messages: Array<string>;
    bytes: number;
    done: Promise<void>;
};

/**
 * Serialises the buffer operations of one client so they reach the store in the order they were asked for:
 * an append can never overtake a read or a remove that was asked for first. Appends that arrive while an
 * earlier operation is still running are merged into one store call.
 *
 * It also keeps the buffer whole or declares it unusable: an append that would pass the client's limit or
 * the server's budget, an append the store fails, or a buffer found shorter than what was stored, all make
 * the buffer unusable. From then on every append is refused until the buffer is removed, and `onUnusable`
 * is called once: a buffer with a gap is worthless for a resume, so the owner gives the client up.
 */
export class ClientBufferQueue {

    private tail: Promise<unknown> = Promise.resolve();
    private openBatch: Batch | null = null;
    // Bytes asked to be appended since the last remove, as stored (one line per message)
    private bytes = 0;
    // Messages the store confirmed since the last remove
    private stored = 0;
    private unusable: Error | null = null;

    constructor(
        private readonly store: ReconnectBufferStore,
        private readonly clientId: string,
        private readonly env: BufferQueueEnv,
        private readonly reports: BufferReports,
    ) {
    }

    /** Resolves once the message is stored, together with every message appended before it */
    append(message: string): Promise<void> {
        const size = Buffer.byteLength(message) + 1;
        const refused = this.reserve(size, true);
        if (refused) {
            return Promise.reject(refused);
        }
        let batch = this.openBatch;
        if (!batch) {
            const newBatch: Batch = {messages: [], bytes: 0, done: Promise.resolve()};
            newBatch.done = this.enqueue(async () => {
                // From here on the batch is being written: later appends start the next one
                if (this.openBatch === newBatch) {
                    this.openBatch = null;
                }
                await this.write(newBatch.bytes, true, () => this.store.append(this.clientId, newBatch.messages, this.stored > 0));
                this.stored += newBatch.messages.length;
            });
            this.openBatch = newBatch;
            batch = newBatch;
        }
        batch.messages.push(message);
        batch.bytes += size;
        this.env.memory.addQueued(size);
        return batch.done;
    }

    /**
     * The client starts waiting: the store keeps its messages for ttlMs, starting with `messages` (what its
     * connection had not acknowledged), stored together with the start. Before any append.
     */
    open(session: BufferedSession, ttlMs: number, messages: ReadonlyArray<string>): Promise<void> {
        this.openBatch = null;
        let size = 0;
        for (const message of messages) {
            size += Buffer.byteLength(message) + 1;
        }
        // Not refused for the memory budget: these bytes were counted already (by the connection or the messages
        // held during a resume that they come from), and move here
        const refused = this.reserve(size, false);
        if (refused) {
            return Promise.reject(refused);
        }
        this.env.memory.add(size);
        return this.enqueue(async () => {
            await this.write(size, false, () => this.store.open(this.clientId, session, ttlMs, messages, this.stored > 0));
            this.stored += messages.length;
        });
    }

    /**
     * Claim every stored message for a replay, after all appends asked for before this call (the buffer
     * stays until remove()). Null if the store has none for this claimant (claimed by another node); rejects
     * with BufferLostError if some are missing.
     */
    claim(claimant: BufferedSession): Promise<ClaimedBuffer | null> {
        this.openBatch = null;
        return this.enqueue(async () => {
            if (this.unusable) {
                // Given up (overflow, a failed write): what is stored is not all there was
                throw new BufferLostError(this.clientId, this.unusable.message);
            }
            const claimed = await this.store.claim(this.clientId, claimant);
            // A shared store counts what all nodes appended; otherwise only this queue knows
            const expected = claimed?.recorded ?? this.stored;
            if (claimed && claimed.messages.length !== expected) {
                throw this.giveUp(new BufferLostError(this.clientId, `${expected} message(s) stored, ${claimed.messages.length} found`));
            }
            return claimed;
        });
    }

    /** Delete the stored messages, after all operations asked for before this call; the buffer is usable again */
    remove(): Promise<void> {
        this.openBatch = null;
        this.env.budget.release(this.bytes);
        this.bytes = 0;
        this.unusable = null;
        return this.enqueue(async () => {
            this.stored = 0;
            await this.store.remove(this.clientId);
        });
    }

    /** `remove`, a failure reported rather than thrown */
    discard(): void {
        this.remove().catch((error: unknown) => this.reports.removeFailed(error));
    }

    /** Resolves when every operation asked for so far has finished (successfully or not) */
    settled(): Promise<void> {
        return this.tail.then(() => undefined);
    }

    /**
     * Count `size` more bytes against the client's limit, the server's budget and the memory budget: new messages
     * may take half of it, what moves here from a dropped connection what is left below its ceiling (twice it);
     * the error if one refuses
     */
    private reserve(size: number, newInMemory: boolean): Error | null {
        if (this.unusable) {
            return this.unusable;
        }
        const {maxBytes, budget, memory} = this.env;
        if (this.bytes + size > maxBytes) {
            return this.giveUp(new ReconnectBufferOverflowError(this.clientId, `reconnectMessageBufferMaxBytes (${maxBytes})`));
        }
        if (newInMemory ? memory.queueWouldExceed(size) : memory.ceilingWouldPass(size)) {
            const share = newInMemory ? 'half of' : 'twice';
            return this.giveUp(new ReconnectBufferOverflowError(this.clientId, `${share} memoryBudgetBytes (${memory.maxBytes}) waiting for the store`));
        }
        if (!budget.reserve(size)) {
            return this.giveUp(new ReconnectBufferOverflowError(this.clientId, `the total of all buffers (${budget.maxBytes} bytes)`));
        }
        this.bytes += size;
        return null;
    }

    /**
     * A write of `bytes` the queue took (counted in memory until now: `queued` as new messages, or as moved here),
     * once the writes under way leave room for it; a failure makes the buffer unusable
     */
    private async write(bytes: number, queued: boolean, write: () => Promise<void>): Promise<void> {
        try {
            if (this.unusable) {
                throw this.unusable;
            }
            await this.env.writes.run(bytes, write);
        } catch (error) {
            throw this.giveUp(error instanceof Error ? error : new Error(String(error)));
        } finally {
            if (queued) {
                this.env.memory.addQueued(-bytes);
            } else {
                this.env.memory.add(-bytes);
            }
        }
    }

    private giveUp(reason: Error): Error {
        if (!this.unusable) {
            this.unusable = reason;
            this.reports.unusable(reason);
        }
        return this.unusable;
    }

    private enqueue<T>(operation: () => Promise<T>): Promise<T> {
        const result = this.tail.then(operation);
        this.tail = result.catch(() => undefined);
        return result;
    }
}
