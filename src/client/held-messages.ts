import {ReconnectBufferOverflowError} from '../buffer/client-buffer-queue';
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

    /** `during`: what the client is doing, for the error ("being claimed", "resuming") */
    constructor(private readonly clientId: string, private readonly maxBytes: number, private readonly during: string) {
    }

    /** The error of the first message refused, if any: what was held is no longer all there was */
    get overflow(): Error | null {
        return this.#overflow;
    }

    /** `data` is the serialised message, not yet numbered: numbering waits until its place is known */
    hold(data: string): Promise<void> {
        // As the buffer counts it: a line per message
        this.#bytes += Buffer.byteLength(data) + 1;
        if (this.#overflow || this.#bytes > this.maxBytes) {
            this.#overflow ??= new ReconnectBufferOverflowError(this.clientId, `reconnectMessageBufferMaxBytes (${this.maxBytes}) while it was ${this.during}`);
            return Promise.reject(this.#overflow);
        }
        const message = new PendingMessage(data);
        this.#messages.push(message);
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
                each(this.#messages[index]);
            }
        } finally {
            this.#messages = this.#messages.slice(index);
        }
    }

    /** The messages held, oldest first; none are held afterwards */
    take(): Array<PendingMessage> {
        const messages = this.#messages;
        this.#messages = [];
        return messages;
    }
}
