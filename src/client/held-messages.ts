import {ReconnectBufferOverflowError} from '../buffer/client-buffer-queue';
import type {BufferQueueEnv} from '../buffer/client-buffer-queue';
import {PendingMessage} from '../transport/pending-message';

/**
 * Messages sent to a client while its reconnect buffer is being read or claimed: they follow the replay, or go
 * into the buffer if the connection goes away first. Bounded like the buffer they may end up in; a message
 * beyond the bound is refused, and so is every later one, since the client can no longer resume in full.
 */
export class HeldMessages {

    #messages: Array<PendingMessage> = [];
    #bytes = 0;
    #overflow: Error | null = null;
    // Of the messages held now, counted in the memory budget until they are handed over
    #heldBytes = 0;

    /** `during`: what the client is doing, for the error ("being claimed", "resuming"); bounded like its buffer */
    constructor(private readonly clientId: string, private readonly during: string, private readonly buffers: Pick<BufferQueueEnv, 'maxBytes' | 'memory'>) {
    }

    /** The error of the first message refused, if any: what was held is no longer all there was */
    get overflow(): Error | null {
        return this.#overflow;
    }

    /** `data` is the serialised message, not yet numbered: numbering waits until its place is known */
    hold(data: string): Promise<void> {
        // As the buffer counts it: a line per message
        const bytes = Buffer.byteLength(data);
        this.#bytes += bytes + 1;
        const {maxBytes, memory} = this.buffers;
        if (!this.#overflow && (this.#bytes > maxBytes || memory.queueWouldExceed(bytes))) {
            const limit = this.#bytes > maxBytes ? `reconnectMessageBufferMaxBytes (${maxBytes})` : `half of memoryBudgetBytes (${memory.maxBytes})`;
            this.#overflow = new ReconnectBufferOverflowError(this.clientId, `${limit} while it was ${this.during}`);
        }
        if (this.#overflow) {
            return Promise.reject(this.#overflow);
        }
        const message = new PendingMessage(data);
        this.#messages.push(message);
        this.#heldBytes += bytes;
        memory.addQueued(bytes);
        return message.promise;
    }

    /**
     * Hand the messages over one by one, oldest first; a message stays held until `each` has taken it, so one that
     * `each` throws for stays held with those after it (and is refused with them when the client is closed)
     */
    handOver(each: (message: PendingMessage) => void): void {
        let index = 0;
        try {
            for (; index < this.#messages.length; index++) {
                const message = this.#messages[index];
                // Let go before the connection counts it, so that it is never counted twice
                const bytes = Buffer.byteLength(message.data);
                this.#heldBytes -= bytes;
                this.buffers.memory.addQueued(-bytes);
                each(message);
            }
        } finally {
            this.#messages = this.#messages.slice(index);
            this.released();
        }
    }

    /** The messages held, oldest first; none are held afterwards */
    take(): Array<PendingMessage> {
        const messages = this.#messages;
        this.#messages = [];
        this.released();
        return messages;
    }

    /** What was taken is counted by whoever took it now; one that `each` threw for is counted here again */
    private released(): void {
        let bytes = 0;
        for (const message of this.#messages) {
            bytes += Buffer.byteLength(message.data);
        }
        this.buffers.memory.addQueued(bytes - this.#heldBytes);
        this.#heldBytes = bytes;
    }
}
