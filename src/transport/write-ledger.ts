import {PendingMessage} from './pending-message';

/**
 * The messages one connection handed to its socket that are not yet known to be written through, oldest first.
 * Write callbacks come in write order, so they confirm by count: Node's one per frame, the batcher's one for the
 * frames of a turn. The messages of a turn after its first leave in one write and share one entry, settled with
 * the last of them. Messages held back while the socket closes wait here too, unnumbered (seq 0).
 */
export class WriteLedger {

    // Frames written with a callback, and frames that write callbacks confirmed
    #writeSeq = 0;
    #confirmedSeq = 0;
    #turnEntry: PendingMessage | null = null;
    #unconfirmed: Array<PendingMessage> = [];
    #heldBackBytes = 0;
    #cutOff = false;

    /** Whether every write with a callback is confirmed: a write without one may go next and settle at once */
    get settled(): boolean {
        return this.#confirmedSeq === this.#writeSeq;
    }

    /** A turn begins: its first frame leaves on its own */
    newTurn(): void {
        this.#turnEntry = null;
    }

    /** Bytes of the messages held back */
    get heldBackBytes(): number {
        return this.#heldBackBytes;
    }

    /**
     * A frame was handed on with a write callback. Returns the promise that settles with it: the message's own
     * (`pending`) if it has one, otherwise its turn's.
     */
    written(frame: string, pending: PendingMessage | null): Promise<void> {
        const entry = pending ?? this.#turnEntry ?? new PendingMessage(frame);
        entry.seq = ++this.#writeSeq;
        if (entry !== this.#turnEntry) {
            this.#unconfirmed.push(entry);
            // A message with a promise of its own keeps it; later ones of the turn queue behind it
            this.#turnEntry = pending ? null : entry;
        }
        return entry.promise;
    }

    /** A message (of `bytes`) held back because the socket is closing; returns the bytes held back so far */
    heldBack(message: PendingMessage, bytes: number): number {
        this.#unconfirmed.push(message);
        return this.#heldBackBytes += bytes;
    }

    /** Transition: the closing socket is cut off for what was held back. True the first time only */
    cutOff(): boolean {
        const first = !this.#cutOff;
        this.#cutOff = true;
        return first;
    }

    /** The next `frames` frames have been written: their messages settle */
    confirm(frames: number): void {
        const confirmed = this.#confirmedSeq += frames;
        const unconfirmed = this.#unconfirmed;
        while (unconfirmed.length > 0 && unconfirmed[0].seq !== 0 && unconfirmed[0].seq <= confirmed) {
            unconfirmed.shift()?.resolve();
        }
    }

    /** The messages handed to the socket (to be settled otherwise); those held back stay */
    takeHanded(): Array<PendingMessage> {
        const handed = this.#unconfirmed.filter((message) => message.seq !== 0);
        if (handed.length > 0) {
            this.#unconfirmed = this.#unconfirmed.filter((message) => message.seq === 0);
        }
        return handed;
    }

    /** Every message not confirmed, oldest first; the ledger is done with afterwards */
    takeAll(): Array<PendingMessage> {
        const all = this.#unconfirmed;
        this.#unconfirmed = [];
        this.#turnEntry = null;
        return all;
    }
}
